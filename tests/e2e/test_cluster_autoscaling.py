"""Autoscaling shown on one machine: cluster_configs/aws-gpu.yaml's node types, launched by
Ray's fake multi-node provider (each "node" a real raylet on this machine), scale from zero
workers when a submitted video job's actor pool asks for GPU replicas, and are released once
the job is done.

``ray.cluster_utils.AutoscalingCluster`` would run this provider too, but its ``start()``
runs ``ray stop --force`` (every Ray on the machine), binds the GCS to 6379, and reads an
example config the wheel does not ship. So the test writes that config itself and starts
the head with tests.ray_head: own ports, token auth on, teardown of our processes only.
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.small_job import assert_whole_output, make_job, wrote_line
from tests.ray_head import REPO, Head, free_port, ray_head
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.ray]
log = logging.getLogger(__name__)
# Caps on this 2-core machine; the node types themselves are aws-gpu.yaml's.
MAX_WORKERS = {"gpu_worker": 2, "cpu_worker": 1}
OBJECT_STORE_BYTES = 150 * 1024**2  # per fake node (the default is 30% of RAM each)
IDLE_TIMEOUT_MIN = 0.2


def fake_cluster_config(gcs_address: str) -> dict[str, Any]:
    """aws-gpu.yaml with the fake multi-node provider in place of AWS."""
    aws = yaml.safe_load((REPO / "cluster_configs" / "aws-gpu.yaml").read_text())
    types = copy.deepcopy(aws["available_node_types"])
    head_type = aws["head_node_type"]
    for name, node_type in types.items():
        node_type["node_config"] = {}
        if name != head_type:
            node_type["max_workers"] = MAX_WORKERS[name]
            node_type["resources"]["object_store_memory"] = OBJECT_STORE_BYTES
    # The fake provider names the head's type this way.
    types["ray.head.default"] = types.pop(head_type) | {"max_workers": 0}
    return {
        "cluster_name": "rayapp-fake",
        "max_workers": sum(MAX_WORKERS.values()),
        "provider": {
            "type": "fake_multinode",
            "gcs_address": gcs_address,  # else the provider assumes 6379
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "available_node_types": types,
        "head_node_type": "ray.head.default",
        "auth": {},
        "upscaling_speed": aws["upscaling_speed"],
        "idle_timeout_minutes": IDLE_TIMEOUT_MIN,
        "docker": {},
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
    }


@pytest.fixture(scope="module")
def fake_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Head]:
    port = free_port()
    config = tmp_path_factory.mktemp("autoscaler") / "fake-cluster.yaml"
    cluster = fake_cluster_config(f"127.0.0.1:{port}")
    config.write_text(json.dumps(cluster))
    env = {
        "RAY_FAKE_CLUSTER": "1",  # the provider refuses to run without it
        "AUTOSCALER_UPDATE_INTERVAL_S": "1",
        # Fake nodes take their IP from the monitor process: loopback, not the LAN address.
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    head = cluster["available_node_types"]["ray.head.default"]
    with ray_head(
        num_cpus=int(head["resources"]["CPU"]),
        port=port,
        args=[
            "--autoscaling-config",
            str(config),
            "--object-store-memory",
            str(OBJECT_STORE_BYTES),
        ],
        env=env,
    ) as started:
        yield started


def alive_nodes(head: Head) -> list[dict[str, Any]]:
    reply = head.api("v0/nodes?limit=100&detail=1")
    return [n for n in reply["data"]["result"]["result"] if n["state"] == "ALIVE"]


class NodeWatch(threading.Thread):
    """Records every alive node seen (node id -> its total resources), and whether each node
    alive at the last look is the head."""

    def __init__(self, head: Head) -> None:
        super().__init__(daemon=True)
        self.head, self.stop = head, threading.Event()
        self.seen: dict[str, dict[str, float]] = {}
        self.alive: list[bool] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                nodes = alive_nodes(self.head)
            except OSError as e:  # a busy dashboard: ask again
                log.warning("node list: %s", e)
                nodes = []
            for node in nodes:
                self.seen[node["node_id"]] = node["resources_total"]
            if nodes:
                self.alive = [n["is_head_node"] for n in nodes]
            self.stop.wait(0.5)


def test_workers_scale_from_zero_for_the_video_job_and_are_released(
    fake_cluster: Head, job_env: dict, s3_bucket: str, tmp_path: Path
) -> None:
    head = fake_cluster
    before = alive_nodes(head)
    assert len(before) == 1 and before[0]["is_head_node"]
    assert before[0]["resources_total"].get("CPU", 0) == 0  # the head runs no work

    src, out, entrypoint = make_job(
        s3_bucket,
        "--min-replicas", "1",
        "--max-replicas", "2",
        "--num-gpus-per-replica", "1",  # replicas only fit the GPU worker type
    )  # fmt: skip
    submission_id = f"rayapp-autoscale-{secrets.token_hex(4)}"
    watch = NodeWatch(head)
    watch.start()
    try:
        # The fake nodes share this machine's disk: the repository is used in place.
        done = head.submit(job_env, entrypoint, submission_id=submission_id, in_place=True)
    finally:
        watch.stop.set()
        watch.join()
    logs = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, f"{logs}\n{head.log_tail()}"
    assert head.api(f"jobs/{submission_id}")["status"] == "SUCCEEDED", logs
    assert wrote_line(out) in done.stdout, logs

    # Scaled up: GPU workers appeared, and every replica ran on one of them.
    gpu_nodes = {n for n, res in watch.seen.items() if res.get("GPU", 0) >= 1}
    assert 1 <= len(gpu_nodes) <= MAX_WORKERS["gpu_worker"], watch.seen
    actors = head.api("v0/actors?limit=1000&detail=1")["data"]["result"]["result"]
    replicas = [a for a in actors if "UpscaleEncode" in a["class_name"]]
    assert replicas, [a["class_name"] for a in actors]
    assert {a["node_id"] for a in replicas} <= gpu_nodes

    assert_whole_output(src, out, tmp_path)

    # Released: idle workers are terminated and the cluster is back to its head alone.
    watch = NodeWatch(head)
    watch.start()
    try:
        wait_until(
            lambda: watch.alive == [True],
            60 * IDLE_TIMEOUT_MIN + 90,
            "the idle workers' release (the head alone alive)",
            interval_s=1,
            state=lambda: watch.alive,
        )
    finally:
        watch.stop.set()
        watch.join()
    assert watch.alive == [True], watch.alive
