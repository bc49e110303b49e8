"""``/v1/jobs``: a video job submitted to the cluster's job API, and its progress.

The job is ``python -m jobs.upscale_video`` run by Ray's job API (``JobSubmissionClient``)
with the repository as working_dir. Its progress comes from the lines the job logs through
``rayapp.progress``: ``frames D/T (P%), F fps, ETA E s``. Only URIs under the configured
prefixes are accepted, and only jobs this service submitted can be read or stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import shlex
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rayapp.config import MAX_OUTSCALE, ServeJobsConfig
from serve.errors import ApiError

__all__ = [
    "JobApi",
    "JobRequest",
    "JobStatus",
    "check_uri",
    "entrypoint",
    "job_status",
    "new_job_id",
]

log = logging.getLogger("rayapp.serve")

REPO = Path(__file__).resolve().parents[1]
_ID = re.compile(r"^rayapp-serve-[0-9a-f]{16}$")
_PROGRESS = re.compile(r"frames (\d+)/(\d+) \(([\d.]+)%\), ([\d.]+) fps, ETA (\d+ s|\?)")
_EXCLUDES = [".venv", ".git", "**/__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache",
             "test-artifacts"]  # fmt: skip


class JobRequest(BaseModel):
    """One video to upscale; resources are the operator's (ServeJobsConfig.replicas)."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(..., max_length=1024, description="Source video URI.")
    output: str = Field(..., max_length=1024, description="Output video URI.")
    model: str | None = Field(None, description="Registry name; default: the first served.")
    outscale: float | None = Field(None, gt=0, le=MAX_OUTSCALE, allow_inf_nan=False)
    codec: Literal["libx264", "libx265", "libsvtav1", "libvpx-vp9"] = "libx264"
    crf: int | None = Field(None, ge=0, le=63)
    segment_s: float | None = Field(None, gt=0, le=600, allow_inf_nan=False)
    chunk_frames: int | None = Field(None, ge=1, le=10_000)


class JobStatus(BaseModel):
    job_id: str
    status: str
    frames_done: int | None = None
    frames_total: int | None = None
    percent: float | None = None
    fps: float | None = None
    eta_s: float | None = None
    error: str | None = None


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


def entrypoint(req: JobRequest, model: str, config: ServeJobsConfig) -> str:
    r = config.replicas
    args = [
        sys.executable, "-m", "jobs.upscale_video",
        "--input", req.input, "--output", req.output, "--model", model,
        "--codec", req.codec,
        "--min-replicas", str(r.min_replicas), "--max-replicas", str(r.max_replicas),
        "--num-cpus-per-replica", str(r.num_cpus_per_replica),
        "--num-gpus-per-replica", str(r.num_gpus_per_replica),
    ]  # fmt: skip
    for flag, value in (
        ("--outscale", req.outscale),
        ("--crf", req.crf),
        ("--segment-s", req.segment_s),
        ("--chunk-frames", req.chunk_frames),
    ):
        if value is not None:
            args += [flag, str(value)]
    return shlex.join(args)  # the job API runs a shell command: every argument quoted


def runtime_env(config: ServeJobsConfig, environ: dict[str, str]) -> dict:
    env = {k: environ[k] for k in config.forward_env if k in environ}
    return {
        "working_dir": config.working_dir or str(REPO),
        "excludes": _EXCLUDES,
        "env_vars": env,
    }


def job_status(job_id: str, status: str, message: str | None, logs: str) -> JobStatus:
    """Status from the job API plus the last progress line and, on failure, the error."""
    out = JobStatus(job_id=job_id, status=status)
    matches = _PROGRESS.findall(logs)
    if matches:
        done, total, pct, fps, eta = matches[-1]
        out.frames_done, out.frames_total = int(done), int(total)
        out.percent, out.fps = float(pct), float(fps)
        out.eta_s = float(eta.split()[0]) if eta != "?" else None
    if status == "SUCCEEDED" and out.frames_total is not None:
        out.frames_done, out.percent, out.eta_s = out.frames_total, 100.0, 0.0
    if status == "FAILED":
        errors = [ln for ln in logs.splitlines() if ": error: " in ln or ": failed: " in ln]
        out.error = errors[-1].strip() if errors else (message or "job failed")
    return out


def dashboard_url() -> str:
    """This cluster's dashboard, as its head registered it in the GCS (a worker's own
    ``get_dashboard_url()`` only knows the default port)."""
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    url = _internal_kv_get(
        ray_constants.DASHBOARD_ADDRESS, namespace=ray_constants.KV_NAMESPACE_DASHBOARD
    )
    if not url:
        raise ApiError(503, "This cluster has no dashboard to submit jobs to", "jobs_unavailable")
    url = url.decode()
    return url if url.startswith("http") else f"http://{url}"


class JobApi:
    """The cluster's job API as the /v1/jobs routes use it; the client is made on first use."""

    def __init__(self, config: ServeJobsConfig) -> None:
        self._config = config
        self._client: Any = None

    def check_enabled(self) -> ServeJobsConfig:
        if not self._config.enabled:
            raise ApiError(404, "Video jobs are not enabled on this service", "jobs_disabled")
        return self._config

    async def submit(self, req: JobRequest, model: str) -> str:
        cfg = self.check_enabled()
        check_uri(req.input, cfg.allowed_prefixes, "input")
        check_uri(req.output, cfg.allowed_prefixes, "output")
        job_id = new_job_id()
        client = await self._get_client()
        await asyncio.to_thread(
            client.submit_job,
            entrypoint=entrypoint(req, model, cfg),
            submission_id=job_id,
            runtime_env=runtime_env(cfg, dict(os.environ)),
        )
        log.info("submitted video job %s", job_id)
        return job_id

    async def status(self, job_id: str) -> JobStatus:
        client = await self._known(job_id)
        info = await self._info(client, job_id)
        logs = await asyncio.to_thread(client.get_job_logs, job_id)
        return job_status(job_id, str(info.status.value), info.message, logs)

    async def stop(self, job_id: str) -> bool:
        client = await self._known(job_id)
        await self._info(client, job_id)
        return bool(await asyncio.to_thread(client.stop_job, job_id))

    async def _known(self, job_id: str) -> Any:
        self.check_enabled()
        check_job_id(job_id)
        return await self._get_client()

    async def _get_client(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            address = self._config.dashboard_address or dashboard_url()
            self._client = await asyncio.to_thread(JobSubmissionClient, address)
        return self._client

    async def _info(self, client: Any, job_id: str) -> Any:
        try:
            return await asyncio.to_thread(client.get_job_info, job_id)
        except RuntimeError as e:  # the SDK's "job does not exist" is a RuntimeError
            raise ApiError(404, "No such job", "unknown_job") from e
