"""The Serve side without a cluster: serve/config.yaml builds, ServeConfig refuses bad
values, /v1/jobs URI rules and the progress parser (the job's own log line format)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from rayapp.config import ServeConfig
from rayapp.errors import ConfigError, UnknownModelError
from rayapp.pipeline.progress import ProgressLine
from serve.app import build_app
from serve.errors import ApiError
from serve.jobs import JobRequest, check_uri, entrypoint, job_status
from serve.payload import sniff_format

CONFIG_YAML = Path(__file__).resolve().parents[2] / "serve" / "config.yaml"
ALLOWED = ["s3://media/videos/"]


def test_config_yaml_builds_with_its_options() -> None:
    app_config = yaml.safe_load(CONFIG_YAML.read_text())["applications"][0]
    assert app_config["import_path"] == "serve.app:build_app"
    config = ServeConfig.model_validate(app_config["args"])
    app = build_app(app_config["args"])
    ingress = app._bound_deployment
    pool = ingress.init_args[0]._bound_deployment  # the ModelPool bound into the ingress
    assert ingress.init_args[1] == config
    assert ingress._deployment_config.max_queued_requests == config.ingress.max_queued_requests
    assert pool._deployment_config.max_ongoing_requests == config.pool.max_ongoing_requests
    assert pool._deployment_config.max_queued_requests == config.pool.max_queued_requests
    scaling = pool._deployment_config.autoscaling_config
    assert (scaling.min_replicas, scaling.max_replicas) == (1, 2)
    assert pool.ray_actor_options["num_gpus"] == config.pool.num_gpus


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"pool": {"models": ["nope"]}}, UnknownModelError),
        ({"pool": {"models": []}}, ValidationError),
        ({"pool": {"autoscaling": {"min_replicas": 3, "max_replicas": 2}}}, ConfigError),
        ({"jobs": {"enabled": True}}, ConfigError),
        ({"auth_token": "a", "auth_token_env": "B"}, ConfigError),
        ({"limits": {"max_outscale": 100}}, ValidationError),
        ({"pool": {"num_gpus": -1}}, ValidationError),
        ({"unknown": 1}, ValidationError),
    ],
)
def test_bad_config_is_refused(args: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        build_app(args)


def test_token_never_in_config_repr() -> None:
    config = ServeConfig(auth_token="hunter2-secret")
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.model_dump())


@pytest.mark.parametrize(
    "uri",
    [
        "s3://media/videos/a.mp4",
        "s3://media/videos/sub/dir/a b.mkv",
    ],
)
def test_allowed_uris(uri: str) -> None:
    assert check_uri(uri, ALLOWED, "input") == uri


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "/etc/passwd",
        "s3://media/videos/../secret.mp4",
        "s3://media/videos/./a.mp4",
        "s3://media/videos//a.mp4",
        "s3://media/videos/",
        "s3://media/videos",
        "s3://media/videos-x/a.mp4",
        "s3://other/videos/a.mp4",
        "s3://media/videos/a.mp4?x=1",
        "s3://media/videos/a.mp4#f",
        "s3://media/videos/%2e%2e/a.mp4",
        "s3://media/videos/a\\..\\b.mp4",
        "s3://media/videos/a\n.mp4",
        "memory://media/videos/a.mp4",
    ],
)
def test_refused_uris(uri: str) -> None:
    with pytest.raises(ApiError) as e:
        check_uri(uri, ALLOWED, "input")
    assert e.value.status == 422
    assert e.value.message == f"input must be a URI under one of: {ALLOWED[0]}"


def test_entrypoint_quotes_every_argument() -> None:
    req = JobRequest(input="s3://media/videos/a;b.mp4", output="s3://media/videos/o.mp4")
    cmd = entrypoint(req, "realesr-animevideov3", ServeConfig().jobs)
    assert "'s3://media/videos/a;b.mp4'" in cmd
    assert " -m jobs.upscale_video " in cmd


def test_progress_is_read_from_the_jobs_own_line() -> None:
    line = ProgressLine(total=120, already_done=0)
    logs = f"noise\n2026 rayapp.progress: {line.update(30)}\nmore noise\n"
    status = job_status("rayapp-serve-0123456789abcdef", "RUNNING", None, logs)
    assert (status.frames_done, status.frames_total, status.percent) == (30, 120, 25.0)
    assert status.fps is not None and status.fps > 0
    failed = job_status(
        "rayapp-serve-0123456789abcdef",
        "FAILED",
        "exit 2",
        "upscale_video: error: Unknown model 'x'\n",
    )
    assert failed.error == "upscale_video: error: Unknown model 'x'"


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\x89PNG\r\n\x1a\n....", "png"),
        (b"\xff\xd8\xff\xe0....", "jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
    ],
)
def test_sniff_format(data: bytes, fmt: str) -> None:
    assert sniff_format(data) == fmt


@pytest.mark.parametrize("data", [b"GIF89a", b"BM....", b"", b"RIFF\x00\x00\x00\x00WAVE"])
def test_sniff_refuses_other_formats(data: bytes) -> None:
    with pytest.raises(ApiError) as e:
        sniff_format(data)
    assert e.value.status == 415
