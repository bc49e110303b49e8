"""Cluster launch configs (cluster_configs/): checked with Ray's own code, no cluster needed.

- aws-gpu.yaml validates against the JSON schema the installed ray ships and survives
  ``ray up``'s own preparation (defaults merged, then ``validate_config``);
- the KubeRay RayCluster (and the RayService's cluster) is accepted by the autoscaling-config
  code the in-tree autoscaler runs on KubeRay;
- the RayService serves serve/config.yaml, changed only where kuberay/serve-overlay.yaml says;
- the RayJob runs one video job whose arguments the job's own parser accepts;
- the Dockerfile builds on the Ray image for our pins and installs the way README.md does.
"""

from __future__ import annotations

import copy
import json
import platform
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml
from ray.autoscaler._private.kuberay.autoscaling_config import (
    _derive_autoscaling_config_from_ray_cr,
)
from ray.autoscaler._private.util import prepare_config, validate_config

from cluster_configs import render_rayservice
from rayapp.pipeline.cluster._memory import MALLOC_TUNABLES

ROOT = Path(__file__).resolve().parents[2]
CC = ROOT / "cluster_configs"
KUBERAY = CC / "kuberay"
SETUP = "scripts/setup.sh"
# KubeRay reads a token Secret's `auth_token` key (authOptions.secretName).
TOKEN_SECRET = {"name": "rayapp-ray-token", "key": "auth_token"}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def aws() -> dict[str, Any]:
    return _load(CC / "aws-gpu.yaml")


@pytest.fixture(scope="module")
def raycluster() -> dict[str, Any]:
    return _load(KUBERAY / "raycluster.yaml")


@pytest.fixture(scope="module")
def rayservice() -> dict[str, Any]:
    return _load(KUBERAY / "rayservice.yaml")


@pytest.fixture(scope="module")
def rayjob() -> dict[str, Any]:
    return _load(KUBERAY / "rayjob.yaml")


def _ray_schema() -> dict[str, Any]:
    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


# --- ray up (AWS) -------------------------------------------------------------------------


def test_aws_config_validates_against_ray_schema(aws: dict[str, Any]) -> None:
    jsonschema.validate(aws, _ray_schema())
    # What `ray up` does before launching: merge the AWS defaults, then validate.
    prepared = prepare_config(copy.deepcopy(aws))
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"


def test_aws_config_node_types(aws: dict[str, Any]) -> None:
    types = aws["available_node_types"]
    head = types[aws["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    assert not head["node_config"]["InstanceType"].startswith(("g", "p"))

    gpu = [t for t in types.values() if t.get("resources", {}).get("GPU", 0) >= 1]
    assert len(gpu) == 1
    gpu_type = gpu[0]
    assert gpu_type["min_workers"] == 0
    assert gpu_type["max_workers"] >= 1
    assert re.match(r"g(5|6e?)\.", gpu_type["node_config"]["InstanceType"])

    cpu_workers = [
        t
        for name, t in types.items()
        if name != aws["head_node_type"] and t.get("resources", {}).get("GPU", 0) == 0
    ]
    assert cpu_workers and all(t["resources"]["CPU"] >= 1 for t in cpu_workers)
    assert sum(t.get("max_workers", 0) for t in types.values()) <= aws["max_workers"]
    assert 0 < aws["idle_timeout_minutes"] <= 60


def test_aws_config_installs_like_readme_and_keeps_token_auth(aws: dict[str, Any]) -> None:
    setup = " && ".join(aws["setup_commands"])
    assert SETUP in setup
    assert aws["file_mounts"]["~/rayapp"] == "."
    # The token reaches every node as ~/.ray/auth_token; Ray starts in token mode.
    assert "~/.ray/auth_token" in aws["file_mounts"]
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = " ".join(aws[key])
        assert "RAY_AUTH_MODE=token" in start
        assert "ray start" in start
        assert ".venv/bin/ray start" in start  # the venv setup.sh built
    # On the workers each chunk's encoder reuses the memory of the one before.
    assert f"GLIBC_TUNABLES={MALLOC_TUNABLES} " in " ".join(aws["worker_start_ray_commands"])
    assert "--head" in " ".join(aws["head_start_ray_commands"])


def test_no_config_disables_token_auth() -> None:
    for path in [*CC.rglob("*.yaml"), CC / "Dockerfile"]:
        text = path.read_text()
        assert not re.search(r"RAY_AUTH_MODE\W+disabled", text), path


# --- KubeRay ------------------------------------------------------------------------------


def test_the_image_asks_for_the_drivers_video_capability() -> None:
    dockerfile = (CC / "Dockerfile").read_text()
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,video,utility" in dockerfile


def _autoscaling_config(cr: dict[str, Any]) -> dict[str, Any]:
    cr = copy.deepcopy(cr)
    cr["metadata"].setdefault("namespace", "default")  # set by the API server on apply
    config = _derive_autoscaling_config_from_ray_cr(cr)  # calls validate_config itself
    validate_config(config)
    return config


def _check_cluster_spec(spec: dict[str, Any], name: str) -> None:
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["rayVersion"] == ray.__version__
    config = _autoscaling_config({"metadata": {"name": name}, "spec": spec})
    types = config["available_node_types"]
    assert types["headgroup"]["resources"].get("GPU") is None
    gpu = [t for t in types.values() if t["resources"].get("GPU", 0) >= 1]
    cpu = [
        t
        for n, t in types.items()
        if n != "headgroup" and "GPU" not in t["resources"] and t["resources"]["CPU"] >= 1
    ]
    assert len(gpu) == 1 and gpu[0]["min_workers"] == 0 and gpu[0]["max_workers"] >= 1
    assert cpu
    assert config["idle_timeout_minutes"] > 0

    # Token auth: the operator's own dashboard calls use the Secret (KubeRay's authOptions) ...
    assert spec["authOptions"] == {"mode": "token", "secretName": TOKEN_SECRET["name"]}
    # ... and every Ray container and the autoscaler sidecar name it too (older operators).
    envs = [spec["autoscalerOptions"]["env"]]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    envs += [c.get("env", []) for g in groups for c in g["template"]["spec"]["containers"]]
    for env in envs:
        by_name = {e["name"]: e for e in env}
        assert by_name["RAY_AUTH_MODE"]["value"] == "token"
        assert by_name["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == TOKEN_SECRET
    # GPU workers: NVENC's library in the container (the driver's video capability), on a
    # GPU type that has NVENC.
    (group,) = [g for g in spec["workerGroupSpecs"] if g["groupName"] == "gpu"]
    pod = group["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert "video" in env["NVIDIA_DRIVER_CAPABILITIES"].split(",")
    # Each chunk's encoder reuses the memory of the one before.
    assert env["GLIBC_TUNABLES"] == MALLOC_TUNABLES
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}


def test_kuberay_manifests_parse(
    raycluster: dict[str, Any], rayservice: dict[str, Any], rayjob: dict[str, Any]
) -> None:
    for doc, kind in ((raycluster, "RayCluster"), (rayservice, "RayService"), (rayjob, "RayJob")):
        assert doc["apiVersion"] == "ray.io/v1"
        assert doc["kind"] == kind
        assert doc["metadata"]["name"]


def test_raycluster_accepted_by_ray_kuberay_autoscaler(raycluster: dict[str, Any]) -> None:
    _check_cluster_spec(raycluster["spec"], raycluster["metadata"]["name"])


def test_rayservice_cluster_accepted_and_same_as_raycluster(
    rayservice: dict[str, Any], raycluster: dict[str, Any]
) -> None:
    spec = rayservice["spec"]["rayClusterConfig"]
    _check_cluster_spec(spec, rayservice["metadata"]["name"])
    assert spec == raycluster["spec"]


def _leaves(tree: Any, path: tuple = ()) -> dict[tuple, Any]:
    """Leaf values by path; applications are keyed by name."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _leaves(sub, (*path, key)).items()}
    if isinstance(tree, list) and tree and all(isinstance(x, dict) and "name" in x for x in tree):
        named = {x["name"]: {k: v for k, v in x.items() if k != "name"} for x in tree}
        return _leaves(named, path)
    return {path: tree}


def _serve_config_v2(rayservice: dict[str, Any]) -> dict[str, Any]:
    text = rayservice["spec"]["serveConfigV2"]
    assert isinstance(text, str)  # KubeRay takes it as a YAML string
    return yaml.safe_load(text)


def test_rayservice_serve_config_is_serve_config_yaml_with_the_overlay(
    rayservice: dict[str, Any],
) -> None:
    assert render_rayservice.main(["--check"]) == 0  # the manifest is what the script writes
    ours = _leaves(_load(ROOT / "serve" / "config.yaml"))
    theirs = _leaves(_serve_config_v2(rayservice))
    overlay = _leaves(_load(KUBERAY / "serve-overlay.yaml"))
    assert theirs.keys() == ours.keys()  # the same settings, no key added or lost
    changed = {path for path in ours if ours[path] != theirs[path]}
    assert changed == set(overlay)  # and only the overlay's differ, to its values
    assert {path: theirs[path] for path in changed} == overlay


def test_rayservice_serve_config_reaches_the_pods_and_the_gpu_group(
    rayservice: dict[str, Any],
) -> None:
    from ray.serve.schema import ServeDeploySchema

    from rayapp.config import ServeConfig

    config = _serve_config_v2(rayservice)
    ServeDeploySchema.model_validate(config)  # what `serve deploy` / KubeRay submit
    (app,) = config["applications"]
    args = ServeConfig.model_validate(app["args"])
    assert config["http_options"]["host"] == "0.0.0.0"  # the Service cannot reach loopback
    assert 0 < args.pool.num_gpus_per_replica <= 1
    # The token the app reads comes from a Secret in every Ray container of the cluster.
    spec = rayservice["spec"]["rayClusterConfig"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    for container in (c for g in groups for c in g["template"]["spec"]["containers"]):
        env = {e["name"]: e for e in container["env"]}
        assert "secretKeyRef" in env[args.auth_token_env]["valueFrom"]


def test_overlay_names_only_known_applications() -> None:
    base = {"applications": [{"name": "rayapp", "args": {"a": 1, "b": 2}}]}
    merged = render_rayservice.lay_over(
        base, {"applications": [{"name": "rayapp", "args": {"b": 3}}]}
    )
    assert merged == {"applications": [{"name": "rayapp", "args": {"a": 1, "b": 3}}]}
    with pytest.raises(ValueError, match="lacks"):
        render_rayservice.lay_over(base, {"applications": [{"name": "other"}]})


def test_rayjob_runs_one_video_job(rayjob: dict[str, Any], raycluster: dict[str, Any]) -> None:
    from jobs.upscale_video import parse_args

    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert argv[:3] == ["python", "-m", "jobs.upscale_video"]
    cfg, _, _, _ = parse_args(argv[3:])  # the job's own parser accepts the arguments
    args = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert args["--input"].startswith("s3://") and args["--output"].startswith("s3://")
    assert cfg is not None
    cluster = raycluster["metadata"]["name"]
    assert rayjob["spec"]["clusterSelector"] == {"ray.io/cluster": cluster}
    env = rayjob["spec"]["submitterPodTemplate"]["spec"]["containers"][0]["env"]
    by_name = {e["name"]: e for e in env}
    assert by_name["RAY_AUTH_MODE"]["value"] == "token"
    assert by_name["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == TOKEN_SECRET


# --- Dockerfile ---------------------------------------------------------------------------


def _dockerfile() -> list[str]:
    """Instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (CC / "Dockerfile").read_text())
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def test_dockerfile_uses_the_ray_image_for_our_pins() -> None:
    lines = _dockerfile()
    assert lines[0].startswith("FROM ")
    py = "".join(platform.python_version_tuple()[:2])
    assert lines[0] == f"FROM rayproject/ray:{ray.__version__}-py{py}-gpu"


def test_dockerfile_installs_like_readme_quick_start() -> None:
    # README's quick start runs scripts/quickstart.sh, which runs scripts/setup.sh ...
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "scripts/quickstart.sh" in quick
    assert SETUP in (ROOT / "scripts" / "quickstart.sh").read_text()
    # ... and the image runs that same script.
    lines = _dockerfile()
    runs = [ln for ln in lines if ln.startswith("RUN ")]
    assert any(SETUP in r for r in runs)
    # Everything the install needs is copied in, and exists.
    copied = [p for ln in lines if ln.startswith("COPY ") for p in ln.split()[1:-1]]
    copied = [p.rstrip("/") for p in copied if not p.startswith("--")]
    for needed in ("pyproject.toml", "README.md", "scripts", "rayapp", "serve", "jobs"):
        assert needed in copied
    for p in copied:
        assert (ROOT / p).exists(), p


def test_dockerfile_bakes_the_weights_cache() -> None:
    lines = _dockerfile()
    env = " ".join(ln for ln in lines if ln.startswith("ENV "))
    assert re.search(r"RAYAPP_CACHE_DIR=/\S+", env)
    bake = [ln for ln in lines if ln.startswith("RUN ") and "load_model" in ln]
    assert bake
    for name in ("realesr-animevideov3", "realesrgan-x4plus", "realesrgan-x4plus-anime"):
        assert f"'{name}'" in bake[0]
    # The bake runs after the install.
    assert lines.index(bake[0]) > next(i for i, ln in enumerate(lines) if SETUP in ln)
