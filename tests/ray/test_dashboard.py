"""rayapp's Grafana dashboard (cluster_configs/grafana/rayapp.json) against a real run: a
video job on a local Ray whose replica dies once (so a chunk is retried); every metric the
dashboard's queries name is on the node's metrics endpoint, and the job's gauges say where
the job ended."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rayapp.config import ReplicaConfig, VideoJobConfig
from rayapp.testing import make_test_video
from tests.waiting import wait_until

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "cluster_configs" / "grafana" / "rayapp.json"
FRAMES = 24
JOB_GAUGES = ("ray_rayapp_job_frames_done", "ray_rayapp_job_frames_total", "ray_rayapp_job_eta_s")


def _endpoint() -> dict[str, list[tuple[str, float]]]:
    """Each sample name on this node's metrics endpoint -> its (labels, value) pairs."""
    import ray

    port = ray._private.worker._global_node.metrics_export_port
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    samples: dict[str, list[tuple[str, float]]] = {}
    for line in body.decode().splitlines():
        if m := re.match(r"^(\w+)(\{.*\})? (\S+)$", line):
            samples.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return samples


def _queried(dashboard: dict) -> set[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return {name for e in exprs for name in re.findall(r"\bray_rayapp_\w+", e)}


@pytest.fixture(scope="module")
def ray_metrics() -> Iterator[None]:
    """A local Ray that exports metrics every second (the default is every 10 s)."""
    import ray

    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
        _system_config={"metrics_report_interval_ms": 1000},
    )  # fmt: skip
    try:
        yield
    finally:
        ray.shutdown()


def test_the_dashboard_is_grafana_json_over_metrics_a_real_run_exports(
    ray_metrics: None, tmp_path: Path
) -> None:
    from rayapp.pipeline import run_video_job
    from rayapp.testing.faults import DiesOnceUpscaler

    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "rayapp" and dashboard["schemaVersion"] >= 27
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) == 7
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "stat"} and set(panel["gridPos"]) == set("xywh")
        assert panel["datasource"] == "${datasource}" and panel["targets"], panel["title"]
        assert [t["refId"] for t in panel["targets"]] == ["A", "B"][: len(panel["targets"])]
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert names == {"datasource", "SessionName", "job"}

    # Held frames, so repeats are skipped; a replica that dies once, so a chunk is retried.
    src = make_test_video(str(tmp_path / "in.mp4"), frames=FRAMES, width=32, height=24,
                          holds=(2,))  # fmt: skip
    out = str(tmp_path / "out.mp4")
    config = VideoJobConfig(
        input=src, output=out, segment_s=0.5, chunk_frames=6, max_chunk_retries=1,
        replicas=ReplicaConfig(min_replicas=1, max_replicas=1, num_cpus_per_replica=0.5),
    )  # fmt: skip
    upscaler = DiesOnceUpscaler(die_at=8, marker=str(tmp_path / "died"))
    results: list = []
    job = threading.Thread(
        target=lambda: results.append(run_video_job(config, upscaler=upscaler, progress=()))
    )
    job.start()
    # Gauges are exported while they are set (Ray drops one ~20 s after its last value), and
    # a replica's go with it: what the dashboard shows is what a scrape during the job sees.
    seen: dict[str, list[tuple[str, float]]] = {}
    tag = f'job="{out}"'

    def job_gauges() -> tuple[list[float], ...]:
        """The job's (frames done, frames total, ETA) as last scraped."""
        return tuple(
            [v for labels, v in seen.get(name, []) if tag in labels] for name in JOB_GAUGES
        )

    def scraped_to_the_end() -> bool:
        """One scrape more; true once the job is over and, if it made its output, its last
        gauges are exported (a job that failed is told by the asserts below)."""
        seen.update(_endpoint())
        ended = not job.is_alive()
        return ended and (not results or job_gauges() == ([FRAMES], [FRAMES], [0.0]))

    try:
        wait_until(
            scraped_to_the_end, 300, "the job's end at the metrics endpoint", state=job_gauges
        )
    finally:
        job.join()
    assert results and results[0].frames == FRAMES and (tmp_path / "died").exists()
    wanted = _queried(dashboard)
    assert len(wanted) == 9, wanted
    assert wanted <= set(seen), sorted(wanted - set(seen))
    assert job_gauges() == ([FRAMES], [FRAMES], [0.0])
    assert sum(v for _, v in seen["ray_rayapp_chunk_retries_total"]) == 1
    # Per replica process; a replica's last second may die with it, so not every repeat
    skipped = sum(v for _, v in seen["ray_rayapp_frames_skipped_total"])
    assert 0 < skipped <= results[0].frames_skipped == FRAMES // 2
    assert all("SessionName=" in labels for name in wanted for labels, _ in seen[name])
