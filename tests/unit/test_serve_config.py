"""The Serve side without a cluster: serve/config.yaml builds, ServeConfig refuses bad
values, /v1/jobs URI rules, the job's config and command line, and its status from what the
job published."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from rayapp.config import ServeConfig, ServeJobsConfig, VideoJobConfig
from rayapp.errors import ConfigError, UnknownModelError
from rayapp.pipeline.progress import ProgressTracker
from serve.app import build_app
from serve.errors import ApiError
from serve.jobs import JobRequest, check_uri, entrypoint, job_config, job_status
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
    assert pool.ray_actor_options["num_gpus"] == config.pool.num_gpus_per_replica


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"pool": {"models": ["nope"]}}, UnknownModelError),
        ({"pool": {"models": []}}, ValidationError),
        ({"pool": {"autoscaling": {"min_replicas": 3, "max_replicas": 2}}}, ConfigError),
        ({"jobs": {"enabled": True}}, ConfigError),
        ({"auth_token": "a", "auth_token_env": "B"}, ConfigError),
        ({"limits": {"max_outscale": 100}}, ValidationError),
        ({"pool": {"num_gpus_per_replica": -1}}, ValidationError),
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
    config = job_config(req, "realesr-animevideov3", ServeConfig().jobs)
    cmd = entrypoint(config)
    assert "a;b.mp4" in shlex.split(cmd)[-1] and "'" in cmd  # one quoted JSON argument
    assert " -m jobs.upscale_video --config-json " in cmd
    # The job parses back exactly the config the service validated.
    from jobs.upscale_video import Archive, parse_args

    assert parse_args(shlex.split(cmd)[3:]) == (config, None, None, Archive())


def test_job_config_is_the_clients_fields_and_the_operators_replicas_and_interpolator() -> None:
    jobs = ServeConfig().jobs
    req = JobRequest(input="s3://m/v/a.mp4", output="s3://m/v/b.mkv", outscale=2, crf=20)
    config = job_config(req, "realesrgan-x4plus-anime", jobs)
    assert config == VideoJobConfig(
        input="s3://m/v/a.mp4",
        output="s3://m/v/b.mkv",
        upscale={"model": "realesrgan-x4plus-anime", "outscale": 2},
        crf=20,
        replicas=jobs.replicas,
    )
    stored = job_config(
        JobRequest(input="s3://m/v/a.mp4", output="s3://m/v/s.mp4", mode="downscale", downscale=2),
        "m",
        jobs,
    )
    assert (stored.mode, stored.downscale) == ("downscale", 2.0)
    film = JobRequest(input="s3://m/v/a.mp4", output="s3://m/v/f.mp4", deinterlace="on", ivtc=True)
    assert (job_config(film, "m", jobs).deinterlace, job_config(film, "m", jobs).ivtc) == (
        "on",
        True,
    )
    steady = JobRequest(
        input="s3://m/v/a.mp4", output="s3://m/v/d.mp4", deflicker=True, deflicker_strength=0.5,
        scene_cuts=False,
    )  # fmt: skip
    config = job_config(steady, "m", jobs)
    assert (config.deflicker, config.deflicker_strength, config.scene_cuts) == (True, 0.5, False)
    with pytest.raises(ValidationError, match="deflicker_strength"):
        JobRequest(input="s3://m/v/a.mp4", output="s3://m/v/d.mp4", deflicker_strength=0)
    twice = JobRequest(input="s3://m/v/a.mp4", output="s3://m/v/i.mp4", interpolate=2)
    rife = ServeJobsConfig(interpolator="s3://m/rife/flownet.pkl")
    assert (
        job_config(twice, "m", jobs).interpolate,
        job_config(twice, "m", jobs).interpolator,
    ) == (
        2,
        "flow",
    )
    assert job_config(twice, "m", rife).interpolator == "s3://m/rife/flownet.pkl"
    with pytest.raises(ValidationError, match="interpolate"):
        JobRequest(input="s3://m/v/a.mp4", output="s3://m/v/i.mp4", interpolate=5)
    with pytest.raises(ValidationError, match="interpolator"):
        JobRequest(input="s3://m/v/a.mp4", output="s3://m/v/i.mp4", interpolator="/etc/passwd")
    faces = JobRequest(input="s3://m/v/a.mp4", output="s3://m/v/f.mp4", faces=True)
    restoring = ServeJobsConfig(face_enhance="s3://m/faces/GFPGANv1.4.pth")
    assert job_config(faces, "m", restoring).upscale.face_enhance == "s3://m/faces/GFPGANv1.4.pth"
    assert job_config(twice, "m", restoring).upscale.face_enhance is None
    with pytest.raises(ConfigError, match="faces: this service restores no faces"):
        job_config(faces, "m", jobs)
    with pytest.raises(ConfigError, match="--interpolate does not go with --deflicker"):
        job_config(
            JobRequest(input="s3://a/b.mp4", output="s3://a/c.mp4", interpolate=2, deflicker=True),
            "m",
            jobs,
        )
    with pytest.raises(ValidationError, match="downscale"):
        JobRequest(input="s3://m/v/a.mp4", output="s3://m/v/s.mp4", downscale=1)
    with pytest.raises(ConfigError, match="crf in 0..51 for libx264"):
        job_config(JobRequest(input="s3://a/b.mp4", output="s3://a/c.mp4", crf=60), "m", jobs)


def test_status_is_what_the_job_published() -> None:
    events: list = []
    tracker = ProgressTracker([events.append], frames_total=120, chunks_total=4)
    tracker.chunk_done(_record(30))
    state = {"progress": events[-1].to_json()}
    status = job_status("rayapp-serve-0123456789abcdef", "RUNNING", None, state)
    assert (status.frames_done, status.frames_total, status.percent) == (30, 120, 25.0)
    assert status.fps is not None and status.fps > 0
    error = {"message": "Unknown model 'x'", "exit_code": 2, "http_status": 404}
    failed = job_status("rayapp-serve-0123456789abcdef", "FAILED", "exit 2", {"error": error})
    assert failed.error == "Unknown model 'x'"
    died = job_status("rayapp-serve-0123456789abcdef", "FAILED", "exit -9", {})
    assert died.error == "exit -9"


def test_status_names_the_preview_while_it_runs_then_the_output_or_the_failed_certificate() -> None:
    job_id = "rayapp-serve-0123456789abcdef"
    asked = {"output": "s3://media/videos/out.mp4", "preview": True}
    running = job_status(job_id, "RUNNING", None, asked)
    assert (running.preview, running.output) == (f"/v1/jobs/{job_id}/preview/index.m3u8", None)
    done = job_status(job_id, "SUCCEEDED", None, {**asked, "report": {"integrity": {"ok": True}}})
    assert (done.preview, done.output) == (None, f"/v1/jobs/{job_id}/output")
    assert job_status(job_id, "RUNNING", None, {**asked, "preview": False}).preview is None
    report = {"integrity": {"ok": False, "frames": {"ok": False}}}
    error = {"message": "s3://media/videos/out.mp4 failed its integrity checks (frames)"}
    failed = job_status(job_id, "FAILED", None, {**asked, "report": report, "error": error})
    assert (failed.report, failed.error, failed.output) == (report, error["message"], None)
    archive = {"output": "s3://media/videos/hd/", "preview": True}
    assert job_status(job_id, "RUNNING", None, archive).preview is None  # one per video
    assert job_status(job_id, "SUCCEEDED", None, archive).output is None  # its table says


def _record(frames: int):  # noqa: ANN202 - a ChunkRecord of ``frames`` frames
    from rayapp.pipeline import ChunkRecord
    from rayapp.video._encode import Chunk

    return ChunkRecord(Chunk("w/chunk-000000000.mp4", 0, frames), finished_at=1.0)


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
