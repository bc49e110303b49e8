"""The HTTP ingress: validation, image decode/encode and routing to the model pool.

Routes (OpenAPI at ``/docs``): ``POST /v1/upscale`` (image bytes in and out),
``POST /v1/upscale/base64`` (JSON, for clients of older APIs), ``GET /v1/models``,
``/v1/jobs`` (video jobs), ``GET /healthz`` and the web page at ``/``.
Bad input is a 4xx and overload a 503 with Retry-After, each a JSON error body; neither
ever reaches a replica's life.
"""

# No ``from __future__ import annotations`` here: Serve rebuilds the route methods'
# signatures for its class-based view, and FastAPI must see real types, not strings.

import asyncio
import base64
import binascii
import hmac
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve
from ray.exceptions import RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle

from rayapp.config import ServeConfig
from rayapp.errors import ConfigError, InputImageError
from rayapp.images import FORMATS, ImageTooLargeError, decode_image, encode_image
from rayapp.models import get_spec
from serve import jobs
from serve.errors import ApiError, install_error_handlers, validation_message
from serve.model import Upscaled
from serve.payload import BodyLimit, image_from_body, read_body, sniff_format

__all__ = ["Ingress", "api"]

log = logging.getLogger("rayapp.serve")
STATIC = Path(__file__).resolve().parent / "static"

api = FastAPI(
    title="rayapp",
    version="1",
    description="Super-resolution of images (bytes in, bytes out) and video jobs on Ray.",
)
install_error_handlers(api)
api.add_middleware(BodyLimit, limit=lambda: _ingress().body_limit)
api.mount("/static", StaticFiles(directory=STATIC), name="static")

_IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            **{t: {"schema": {"type": "string", "format": "binary"}} for t in FORMATS.values()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}
_IMAGE_RESPONSE = {200: {"content": {t: {} for t in FORMATS.values()}, "description": "Image"}}


class Base64Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(..., description="The image, base64 (a data: URL prefix is allowed).")
    model: str | None = Field(None, description="Registry name; default: the first served.")
    outscale: float | None = Field(None, description="Final scale; default: the model's.")
    tile: int = Field(0, description="Tile size in input pixels; 0 = none.")
    format: str | None = Field(None, description="png | jpeg | webp; default: the input's.")


class Base64Response(BaseModel):
    image: str
    width: int
    height: int
    format: str


def _ingress() -> "Ingress":
    return serve.get_replica_context().servable_object


def require_token(request: Request) -> None:
    """Bearer token check for /v1 routes (when one is configured); constant time."""
    want = _ingress().token
    if want is None:
        return
    scheme, _, got = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not got:
        raise ApiError(401, "Missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(got.strip().encode(), want.encode()):
        raise ApiError(401, "Invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


AUTH = [Depends(require_token)]


def _token(config: ServeConfig) -> str | None:
    if config.auth_token is not None:
        return config.auth_token.get_secret_value()
    if config.auth_token_env:
        token = os.environ.get(config.auth_token_env)
        if not token:
            raise ConfigError(f"auth_token_env names {config.auth_token_env}, which is unset")
        return token
    return None


def _dashboard_url() -> str:
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


# Helpers sit above the class: Serve pickles it by value at decoration time, and
# cloudpickle captures only the globals that exist by then.
@serve.deployment(name="Ingress")
@serve.ingress(api)
class Ingress:
    def __init__(self, pool: DeploymentHandle, config: ServeConfig) -> None:
        self._pool = pool
        self._config = config
        self._limits = config.limits
        # Every route's cap (the base64 route's JSON carries 4/3 of the image bytes).
        self.body_limit = math.ceil(config.limits.max_body_bytes * 4 / 3) + 4096
        self.token = _token(config)
        self._replica_id = serve.get_replica_context().replica_id.unique_id
        self._jobs_client: Any = None

    # -- pages and health -----------------------------------------------------------------

    @api.get("/", include_in_schema=False)
    async def index(self) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    # -- images ----------------------------------------------------------------------------

    @api.get("/v1/models", dependencies=AUTH)
    async def models(self) -> list[dict]:
        loaded = set(await self._call(self._pool.loaded_models.remote()))
        default = self._config.pool.models[0]
        return [
            {
                "name": spec.name,
                "scale": spec.scale,
                "genre": spec.genre,
                "license": spec.license,
                "description": spec.description,
                "default": spec.name == default,
                "loaded": spec.name in loaded,
            }
            for spec in map(get_spec, self._config.pool.models)
        ]

    @api.post(
        "/v1/upscale",
        dependencies=AUTH,
        openapi_extra=_IMAGE_BODY,
        responses=_IMAGE_RESPONSE,
        response_class=Response,
    )
    async def upscale(
        self,
        request: Request,
        model: str | None = Query(None, description="Registry name; default: the first."),
        outscale: float | None = Query(None, description="Final scale; default: the model's."),
        tile: int = Query(0, description="Tile size in input pixels; 0 = no tiling."),
        format: str | None = Query(None, description="png | jpeg | webp; default: the input's."),
    ) -> Response:
        model = self._check_params(model, outscale, tile, format)
        data = await image_from_body(request, self._limits.max_body_bytes)
        out, fmt, result = await self._upscale_bytes(data, model, outscale, tile, format)
        return Response(out, media_type=FORMATS[fmt], headers=self._headers(result))

    @api.post(
        "/v1/upscale/base64",
        dependencies=AUTH,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": Base64Request.model_json_schema()}},
            }
        },
    )
    async def upscale_base64(self, request: Request, response: Response) -> Base64Response:
        try:
            req = Base64Request.model_validate_json(await read_body(request, self.body_limit))
        except ValidationError as e:
            raise ApiError(422, validation_message(e.errors())) from None
        model = self._check_params(req.model, req.outscale, req.tile, req.format)
        text = req.image.split(",", 1)[1] if req.image.startswith("data:") else req.image
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "image is not valid base64", "invalid_base64") from None
        if not data:
            raise ApiError(400, "Empty image", "empty_body")
        out, fmt, result = await self._upscale_bytes(
            data, model, req.outscale, req.tile, req.format
        )
        response.headers.update(self._headers(result))
        h, w = result.image.shape[:2]
        return Base64Response(image=base64.b64encode(out).decode(), width=w, height=h, format=fmt)

    # -- video jobs ------------------------------------------------------------------------

    @api.post("/v1/jobs", dependencies=AUTH, status_code=201)
    async def submit_job(self, req: jobs.JobRequest) -> dict:
        cfg = self._jobs()
        model = self._check_model(req.model)
        jobs.check_uri(req.input, cfg.allowed_prefixes, "input")
        jobs.check_uri(req.output, cfg.allowed_prefixes, "output")
        job_id = jobs.new_job_id()
        client = await self._client()
        await asyncio.to_thread(
            client.submit_job,
            entrypoint=jobs.entrypoint(req, model, cfg),
            submission_id=job_id,
            runtime_env=jobs.runtime_env(cfg, dict(os.environ)),
        )
        log.info("submitted video job %s", job_id)
        return {"job_id": job_id}

    @api.get("/v1/jobs/{job_id}", dependencies=AUTH)
    async def job(self, job_id: str) -> jobs.JobStatus:
        self._jobs()
        jobs.check_job_id(job_id)
        client = await self._client()
        info = await self._job_info(client, job_id)
        logs = await asyncio.to_thread(client.get_job_logs, job_id)
        return jobs.job_status(job_id, str(info.status.value), info.message, logs)

    @api.delete("/v1/jobs/{job_id}", dependencies=AUTH)
    async def stop_job(self, job_id: str) -> dict:
        self._jobs()
        jobs.check_job_id(job_id)
        client = await self._client()
        await self._job_info(client, job_id)
        stopped = await asyncio.to_thread(client.stop_job, job_id)
        return {"job_id": job_id, "stopped": bool(stopped)}

    # -- internals -------------------------------------------------------------------------

    def _check_model(self, model: str | None) -> str:
        served = self._config.pool.models
        if model is None:
            return served[0]
        if model not in served:
            raise ApiError(
                404,
                f"Unknown model {model[:64]!r}. Available: {', '.join(served)}",
                "unknown_model",
            )
        return model

    def _check_params(
        self, model: str | None, outscale: float | None, tile: int, fmt: str | None
    ) -> str:
        name = self._check_model(model)
        top = self._limits.max_outscale
        if outscale is not None and not (math.isfinite(outscale) and 0 < outscale <= top):
            raise ApiError(422, f"outscale must be a number in (0, {top:g}], got {outscale}")
        if not 0 <= tile <= self._limits.max_tile:
            raise ApiError(422, f"tile must be in [0, {self._limits.max_tile}], got {tile}")
        if fmt is not None and fmt not in FORMATS:
            raise ApiError(422, f"format must be one of {', '.join(FORMATS)}, got {fmt[:16]!r}")
        return name

    async def _upscale_bytes(
        self, data: bytes, model: str, outscale: float | None, tile: int, fmt: str | None
    ) -> tuple[bytes, str, Upscaled]:
        in_fmt = sniff_format(data)
        image = await asyncio.to_thread(self._decode, data)
        scale = outscale or float(get_spec(model).scale)
        h, w = image.shape[:2]
        out_pixels = round(h * scale) * round(w * scale)
        if out_pixels > self._limits.max_output_pixels:
            raise ApiError(
                413,
                f"Output would be {out_pixels} pixels; the limit is "
                f"{self._limits.max_output_pixels}",
                "image_too_large",
            )
        out_fmt = fmt or in_fmt
        if image.dtype == np.uint16 and out_fmt != "png":
            raise ApiError(422, f"16-bit images can only be returned as png, not {out_fmt}")
        if image.ndim == 3 and image.shape[2] == 4 and out_fmt == "jpeg":
            raise ApiError(422, "JPEG has no alpha channel; ask for format=png or webp")
        auto = self._limits.auto_tile
        if tile == 0 and auto and max(h, w) > auto:
            tile = auto  # a large untiled forward could exhaust the replica's memory
        handle = self._pool.options(multiplexed_model_id=model)
        result: Upscaled = await self._call(handle.upscale.remote(image, outscale, tile))
        encoded = await asyncio.to_thread(encode_image, result.image, out_fmt)
        return encoded, out_fmt, result

    def _decode(self, data: bytes) -> np.ndarray:
        try:
            return decode_image(data, max_pixels=self._limits.max_input_pixels)
        except ImageTooLargeError as e:
            raise ApiError(413, str(e), "image_too_large") from None
        except InputImageError as e:
            raise ApiError(400, str(e), "undecodable_image") from None

    async def _call(self, response: Any) -> Any:
        """Await a pool call; overload is 503 + Retry-After, a replica failure 500."""
        try:
            return await response
        except BackPressureError as e:
            retry = e.retry_after_s or self._config.ingress.retry_after_s
            raise ApiError(
                503,
                "The model pool is at capacity; retry later",
                "overloaded",
                {"Retry-After": str(math.ceil(retry))},
            ) from None
        except InputImageError as e:  # RayTaskError subclasses the replica's error type
            raise ApiError(400, str(e).splitlines()[-1], "undecodable_image") from None
        except (RayTaskError, RayActorError) as e:
            log.warning("model pool call failed: %s", type(e).__name__)
            raise ApiError(500, "Upscaling failed on the model replica", "internal") from None

    def _headers(self, result: Upscaled) -> dict[str, str]:
        return {
            "X-Batch-Size": str(result.batch_size),
            "X-Forward-Batch": str(result.forward_size),
            "X-Replica-Id": result.replica_id,
            "X-Ingress-Replica-Id": self._replica_id,
        }

    def _jobs(self):
        if not self._config.jobs.enabled:
            raise ApiError(404, "Video jobs are not enabled on this service", "jobs_disabled")
        return self._config.jobs

    async def _client(self) -> Any:
        if self._jobs_client is None:
            from ray.job_submission import JobSubmissionClient

            address = self._config.jobs.dashboard_address or _dashboard_url()
            self._jobs_client = await asyncio.to_thread(JobSubmissionClient, address)
        return self._jobs_client

    async def _job_info(self, client: Any, job_id: str) -> Any:
        try:
            return await asyncio.to_thread(client.get_job_info, job_id)
        except RuntimeError as e:  # the SDK's "job does not exist" is a RuntimeError
            raise ApiError(404, "No such job", "unknown_job") from e
