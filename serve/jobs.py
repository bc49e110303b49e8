"""``/v1/jobs``: a video job submitted to the cluster's job API, and its progress.

A request is validated into the job's own ``VideoJobConfig`` (the client chooses the fields
of ``JobRequest``, the operator the replicas) and submitted to Ray's job API
(``JobSubmissionClient``) as ``python -m jobs.upscale_video --config-json <the config>``,
with the repository as working_dir. The job publishes its progress and, on failure, its
error as JSON in the cluster's key-value store (``rayapp.pipeline.progress``); the status
route reads it there. Only URIs under the configured prefixes are accepted, and only jobs
this service submitted can be read, stopped or forgotten. A finished job is forgotten when
deleted, or ``retention_s`` after it ended (swept at most once a minute, as requests come).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import secrets
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from rayapp import storage
from rayapp.arguments import config_from_flat, flat_fields
from rayapp.config import PlanOptions, ServeJobsConfig, VideoJobConfig
from rayapp.errors import ConfigError
from rayapp.pipeline import PLAYLIST, preview_uri
from rayapp.pipeline.progress import (
    forget_job_state,
    job_state_ids,
    publish_job_state,
    read_job_state,
)
from rayapp.video import check_video_header
from serve.errors import ApiError

__all__ = [
    "JobApi",
    "JobRequest",
    "JobStatus",
    "check_uri",
    "entrypoint",
    "job_config",
    "job_status",
    "new_job_id",
]

log = logging.getLogger("rayapp.serve")

REPO = Path(__file__).resolve().parents[1]
_ID = re.compile(r"^rayapp-serve-[0-9a-f]{16}$")
_EXCLUDES = [".venv", ".git", "**/__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache",
             "test-artifacts"]  # fmt: skip


# What a client may choose; the rest of a job (replicas, retries, work prefix, device,
# weights, the interpolator) is the operator's. The fields, their types and limits are
# VideoJobConfig's own.
CLIENT_FIELDS = (
    "input",
    "output",
    "model",
    "outscale",
    "mode",
    "downscale",
    "codec",
    "crf",
    "segment_s",
    "chunk_frames",
    "scene_cuts",
    "deinterlace",
    "ivtc",
    "deflicker",
    "deflicker_strength",
    "interpolate",
    "preview",
)


# A request's fields that ask for a plan (a dry run, and what it plans for), not the job.
PLAN_FIELDS = ("dry_run", "deadline", "instance")


def _request_model() -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (field.annotation, field)
        for name, _, field in flat_fields(VideoJobConfig)
        if name in CLIENT_FIELDS
    }
    fields["model"] = (str | None, Field(None, description="A served model; default: the first."))
    fields["dry_run"] = (
        bool,
        Field(False, description="Answer the job's plan (rayapp plan) and run nothing."),
    )
    fields["faces"] = (
        bool,
        Field(False, description="Restore the faces (where the operator gives a checkpoint)."),
    )
    for name in PLAN_FIELDS[1:]:  # what a dry run plans for
        fields[name] = (PlanOptions.model_fields[name].annotation, PlanOptions.model_fields[name])
    return create_model(
        "JobRequest",
        __config__=ConfigDict(extra="forbid"),
        __doc__="One video to upscale; resources are the operator's (ServeJobsConfig.replicas).",
        **fields,
    )


JobRequest = _request_model()


class JobStatus(BaseModel):
    job_id: str
    status: str
    frames_done: int | None = None
    frames_total: int | None = None
    percent: float | None = None
    fps: float | None = None
    eta_s: float | None = None
    error: str | None = None
    report: dict | None = None  # the finished job's certificate (<output>.report.json)
    # An archive's totals as each video ends: videos_total, videos_ended, done, skipped,
    # failed, frames_done, elapsed_s, eta_s, table (the URI of its rayapp-archive.csv).
    archive: dict | None = None
    # Where the page plays the job: its growing preview (HLS, while it runs, when asked
    # for) and, once it succeeded, its output (one video, not an archive).
    preview: str | None = None
    output: str | None = None


_ENDED = ("SUCCEEDED", "FAILED", "STOPPED")
_SWEEP_EVERY_S = 60.0
_PREVIEW_FILE = re.compile(r"^(index\.m3u8|segment-[0-9]{9}\.(ts|m4s|init\.mp4))$")
_MEDIA_TYPES = {
    "m3u8": "application/vnd.apple.mpegurl",
    "ts": "video/mp2t",
    "m4s": "video/iso.segment",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "webm": "video/webm",
}


def _blocks(uri: str, size: int = 1 << 20) -> Iterator[bytes]:
    """The object at ``uri`` a MiB at a time (a feature film is never held whole)."""
    with storage.open_input(uri) as f:
        while block := f.read(size):
            yield block


def new_job_id() -> str:
    return f"rayapp-serve-{secrets.token_hex(8)}"


def check_job_id(job_id: str) -> str:
    if not _ID.match(job_id):
        raise ApiError(404, "No such job", "unknown_job")
    return job_id


def check_uri(uri: str, allowed: list[str], what: str) -> str:
    """``uri`` if it lies under one of ``allowed`` prefixes, else 422 (never echoing it)."""
    _, sep, path = uri.partition("://")
    bad = (
        not sep
        or not uri.isprintable()
        or any(c in uri for c in "\\?#%")
        or "//" in path
        or any(part in (".", "..") for part in path.split("/"))
    )
    if not bad:
        for prefix in allowed:
            base = prefix if prefix.endswith("/") else prefix + "/"
            if uri.startswith(base) and len(uri) > len(base):
                return uri
    shown = ", ".join(allowed) or "(none configured)"
    raise ApiError(422, f"{what} must be a URI under one of: {shown}", "uri_not_allowed")


def job_config(req: BaseModel, model: str, config: ServeJobsConfig) -> VideoJobConfig:
    """The request as the job's config: the client's fields, the served ``model``, the
    operator's replicas, interpolator and face checkpoint (for ``faces``). A value the job
    would refuse is a 422 now, not a failed job."""
    faces = getattr(req, "faces", False)
    if faces and config.face_enhance is None:
        raise ConfigError("faces: this service restores no faces (its operator gave none)")
    values = {
        **req.model_dump(exclude={*PLAN_FIELDS, "faces"}),
        "model": model,
        "interpolator": config.interpolator,
        **({"face_enhance": config.face_enhance} if faces else {}),
        **config.replicas.model_dump(),
    }
    return config_from_flat(VideoJobConfig, values)


def entrypoint(config: VideoJobConfig) -> str:
    """The job's command line: the whole config as one JSON argument."""
    args = [sys.executable, "-m", "jobs.upscale_video", "--config-json", config.model_dump_json()]
    return shlex.join(args)  # the job API runs a shell command: every argument quoted


def runtime_env(config: ServeJobsConfig, environ: dict[str, str]) -> dict:
    env = {k: environ[k] for k in config.forward_env if k in environ}
    return {
        "working_dir": config.working_dir or str(REPO),
        "excludes": _EXCLUDES,
        "env_vars": env,
    }


def job_status(job_id: str, status: str, message: str | None, state: dict) -> JobStatus:
    """Status from the job API plus what the job published (``read_job_state``)."""
    out = JobStatus(job_id=job_id, status=status)
    progress = state.get("progress")
    if progress:
        out.frames_done, out.frames_total = progress["frames_done"], progress["frames_total"]
        out.percent, out.fps, out.eta_s = progress["percent"], progress["fps"], progress["eta_s"]
    archive = state.get("archive")
    if archive:
        out.archive, out.frames_done = archive, archive["frames_done"]
        out.percent = 100.0 * archive["videos_ended"] / max(archive["videos_total"], 1)
        out.eta_s = archive["eta_s"]
    if status == "SUCCEEDED" and out.frames_total is not None:
        out.frames_done, out.percent, out.eta_s = out.frames_total, 100.0, 0.0
    if status in ("SUCCEEDED", "FAILED"):  # a failed job's certificate says what failed
        out.report = state.get("report")
    single = bool(state.get("output")) and not state["output"].endswith("/")  # not an archive
    if status == "SUCCEEDED":
        if single:
            out.output = f"/v1/jobs/{job_id}/output"
    elif status in ("PENDING", "RUNNING") and state.get("preview") and single:
        out.preview = f"/v1/jobs/{job_id}/preview/{PLAYLIST}"
    if status == "FAILED":
        error = state.get("error")
        out.error = error["message"] if error else (message or "job failed")
    return out


def dashboard_url() -> str:
    """This cluster's dashboard, as its head registered it in the GCS (a worker's own
    ``get_dashboard_url()`` only knows the default port)."""
    from rayapp.pipeline.cluster.ray_internals import registered_dashboard

    url = registered_dashboard()
    if not url:
        raise ApiError(503, "This cluster has no dashboard to submit jobs to", "jobs_unavailable")
    return url if url.startswith("http") else f"http://{url}"


# A job is forgotten no sooner than this after it ended: Ray's job manager notices its
# supervisor actor gone a second or two after the job stopped, and where the job's record
# was already deleted it writes a new one (a FAILED job: "supervisor actor died").
_SETTLE_S = 5.0


class JobApi:
    """The cluster's job API as the /v1/jobs routes use it; the client is made on first use."""

    def __init__(self, config: ServeJobsConfig) -> None:
        self._config = config
        self._client: Any = None
        self._swept = -math.inf

    def check_enabled(self) -> ServeJobsConfig:
        if not self._config.enabled:
            raise ApiError(404, "Video jobs are not enabled on this service", "jobs_disabled")
        return self._config

    async def submit(self, req: BaseModel, model: str) -> str:
        config = await self._checked(req, model)
        await self._sweep_now_and_then()
        job_id = new_job_id()
        client = await self._get_client()
        await asyncio.to_thread(
            client.submit_job,
            entrypoint=entrypoint(config),
            submission_id=job_id,
            runtime_env=runtime_env(self._config, dict(os.environ)),
        )
        # What the file routes serve of it (only a job submitted here has it).
        job = {"output": config.output, "preview": config.preview}
        await asyncio.to_thread(publish_job_state, job_id, job)
        log.info("submitted video job %s", job_id)
        return job_id

    async def plan(self, req: BaseModel, model: str) -> dict:
        """The job's plan, made by a Ray task with the resources one replica gets (so the
        model is timed on the device the replicas would use); nothing is submitted."""
        import ray

        from rayapp.pipeline import estimate_task

        config = await self._checked(req, model)
        options = PlanOptions(deadline=req.deadline, instance=req.instance)
        try:
            plan = await estimate_task(config).remote(config, options)
        except ray.exceptions.RayTaskError as e:  # the plan's own error, e.g. a bad instance
            raise e.as_instanceof_cause() from None
        return plan.as_dict()

    async def _checked(self, req: BaseModel, model: str) -> VideoJobConfig:
        cfg = self.check_enabled()
        config = job_config(req, model, cfg)
        check_uri(config.input, cfg.allowed_prefixes, "input")
        check_uri(config.output, cfg.allowed_prefixes, "output")
        if config.input.endswith("/"):  # an archive: a prefix in, a prefix out
            if not config.output.endswith("/"):
                raise ApiError(
                    422, "An archive's output must be a prefix too (ending in /)", "bad_output"
                )
            from rayapp.pipeline import check_archive

            await asyncio.to_thread(check_archive, config.input, config.output)
            return config
        # Missing, a prefix, empty, not a media file, no video stream, no decoder: the
        # header tells (a few range reads); what only every packet tells, the job finds.
        await asyncio.to_thread(check_video_header, config.input)
        return config

    async def status(self, job_id: str) -> JobStatus:
        client = await self._known(job_id)
        await self._sweep_now_and_then()
        info = await self._info(client, job_id)
        state = await asyncio.to_thread(read_job_state, job_id)
        return job_status(job_id, str(info.status.value), info.message, state)

    async def preview_file(self, job_id: str, name: str) -> tuple[Iterator[bytes], str]:
        """A file of the job's preview: its playlist or a published segment."""
        if not _PREVIEW_FILE.match(name):
            raise ApiError(404, "No such preview file", "not_found")
        output = await self._output(job_id, "preview")
        return await self._file(storage.join(preview_uri(output), name))

    async def output_file(self, job_id: str) -> tuple[Iterator[bytes], str]:
        """The finished job's output video."""
        return await self._file(await self._output(job_id, "output"))

    async def _output(self, job_id: str, what: str) -> str:
        self.check_enabled()
        check_job_id(job_id)
        state = await asyncio.to_thread(read_job_state, job_id)
        output = state.get("output")
        if not output or output.endswith("/") or (what == "preview" and not state.get(what)):
            raise ApiError(404, f"This job has no {what} to serve", "not_found")
        return output

    async def _file(self, uri: str) -> tuple[Iterator[bytes], str]:
        check_uri(uri, self._config.allowed_prefixes, "the file")
        if not await asyncio.to_thread(storage.exists, uri):
            raise ApiError(404, "Not written (yet)", "not_found")
        media = _MEDIA_TYPES.get(uri.rsplit(".", 1)[-1].lower(), "application/octet-stream")
        return _blocks(uri), media

    async def delete(self, job_id: str) -> dict:
        """Stop a running job (its finished chunks stay for a rerun to resume), or forget a
        finished one: the job API's record and what it published."""
        client = await self._known(job_id)
        info = await self._info(client, job_id)
        if str(info.status.value) not in _ENDED:
            return {
                "job_id": job_id,
                "stopped": bool(await asyncio.to_thread(client.stop_job, job_id)),
            }
        await asyncio.to_thread(self._forget, client, job_id)
        return {"job_id": job_id, "forgotten": True}

    def sweep(self) -> list[str]:
        """Forget every job that ended more than ``retention_s`` ago, and at least
        ``_SETTLE_S`` (blocking: call from a thread); returns their ids. Run at most every
        ``_SWEEP_EVERY_S`` by the routes."""
        client = self._client_now()
        keep_s = self._config.retention_s
        now = time.time()
        forgotten = []
        for job_id in filter(_ID.match, job_state_ids()):  # this service's jobs only
            try:
                info = client.get_job_info(job_id)
            except RuntimeError:  # the job API no longer knows it
                forget_job_state(job_id)
                continue
            ended = (info.end_time or 0) / 1000
            if str(info.status.value) in _ENDED and ended and now - ended > max(keep_s, _SETTLE_S):
                self._forget(client, job_id)
                forgotten.append(job_id)
        if forgotten:
            log.info("forgot %d jobs ended more than %g s ago", len(forgotten), keep_s)
        return forgotten

    async def _sweep_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._swept < min(_SWEEP_EVERY_S, self._config.retention_s):
            return
        self._swept = now
        await self._get_client()
        try:
            await asyncio.to_thread(self.sweep)
        except Exception:  # noqa: BLE001 - a failed sweep never fails the request
            log.warning("sweeping expired jobs failed", exc_info=True)

    @staticmethod
    def _forget(client: Any, job_id: str) -> None:
        client.delete_job(job_id)
        forget_job_state(job_id)

    def _client_now(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self._config.dashboard_address or dashboard_url())
        return self._client

    async def _known(self, job_id: str) -> Any:
        self.check_enabled()
        check_job_id(job_id)
        return await self._get_client()

    async def _get_client(self) -> Any:
        if self._client is None:
            await asyncio.to_thread(self._client_now)
        return self._client

    async def _info(self, client: Any, job_id: str) -> Any:
        try:
            return await asyncio.to_thread(client.get_job_info, job_id)
        except RuntimeError as e:  # the SDK's "job does not exist" is a RuntimeError
            raise ApiError(404, "No such job", "unknown_job") from e
