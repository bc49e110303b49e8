"""The HTTP ingress: validation, image decode/encode and routing to the model pool.

Routes (OpenAPI at ``/docs``): ``POST /v1/upscale`` (image bytes in and out),
``POST /v1/upscale/base64`` (JSON, for clients of older APIs), ``GET /v1/models``,
``/v1/jobs`` (video jobs; a job's preview and output under ``/v1/jobs/{id}/``),
``PUT/GET/DELETE /v1/objects/{key}`` (store small, upscale on read:
``serve.store``), ``GET /healthz`` and the web page at ``/``.
Bad input is a 4xx and overload a 503 with Retry-After, each a JSON error body; neither
ever reaches a replica's life.
"""

# No ``from __future__ import annotations`` here: Serve rebuilds the route methods'
# signatures for its class-based view, and FastAPI must see real types, not strings.

import asyncio
import base64
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from ray import serve
from ray.serve.handle import DeploymentHandle

from rayapp.config import ServeConfig, final_scale, scaled_size
from rayapp.errors import ConfigError, ImageTooLargeError, UnknownModelError
from rayapp.image_formats import IMAGE_FORMATS, output_format
from rayapp.images import check_output_format, decode_image, encode_image
from rayapp.models import get_spec, resolve
from serve import jobs
from serve.auth import check_bearer, configured_token
from serve.errors import ApiError, await_pool, install_error_handlers, validation_message
from serve.model import Upscaled
from serve.payload import (
    FORMAT_CHOICES,
    IMAGE_BODY,
    IMAGE_RESPONSE,
    Base64Request,
    Base64Response,
    BodyLimit,
    base64_image,
    image_from_body,
    read_body,
    sniff_format,
)
from serve.store import ObjectStore, check_key

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


def _ingress() -> "Ingress":
    return serve.get_replica_context().servable_object


def require_token(request: Request) -> None:
    """Bearer token check for /v1 routes (when one is configured)."""
    check_bearer(request.headers.get("authorization", ""), _ingress().token)


AUTH = [Depends(require_token)]
NO_STORE = {"Cache-Control": "no-store"}  # a growing playlist: never a stale copy


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
        self.token = configured_token(config)
        self._replica_id = serve.get_replica_context().replica_id.unique_id
        self._job_api = jobs.JobApi(config.jobs)
        self._store = ObjectStore(config.store) if config.store.prefix else None

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
        loaded = await self._call(self._pool.loaded_models.remote())
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
                "device": loaded.get(spec.name, {}).get("device"),
                "precision": loaded.get(spec.name, {}).get("precision"),
                # What a video job's replica on that device encodes with, and why not NVENC.
                "video_encoder": loaded.get(spec.name, {}).get("video_encoder"),
            }
            for spec in map(get_spec, self._config.pool.models)
        ]

    @api.post(
        "/v1/upscale",
        dependencies=AUTH,
        openapi_extra=IMAGE_BODY,
        responses=IMAGE_RESPONSE,
        response_class=Response,
    )
    async def upscale(
        self,
        request: Request,
        model: str | None = Query(None, description="Registry name; default: the first."),
        outscale: float | None = Query(None, description="Final scale; default: the model's."),
        tile: int = Query(0, description="Tile size in input pixels; 0 = no tiling."),
        format: str | None = Query(None, description=f"{FORMAT_CHOICES}; default: the input's."),
        faces: bool = Query(False, description="Restore the faces (where the service offers it)."),
    ) -> Response:
        model = self._check_params(model, outscale, tile, format, faces)
        data = await image_from_body(request, self._limits.max_body_bytes)
        out, fmt, result = await self._upscale_bytes(data, model, outscale, tile, format, faces)
        return Response(out, media_type=IMAGE_FORMATS[fmt].mime, headers=self._headers(result))

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
        model = self._check_params(req.model, req.outscale, req.tile, req.format, req.faces)
        data = base64_image(req.image)
        out, fmt, result = await self._upscale_bytes(
            data, model, req.outscale, req.tile, req.format, req.faces
        )
        response.headers.update(self._headers(result))
        h, w = result.image.shape[:2]
        return Base64Response(image=base64.b64encode(out).decode(), width=w, height=h, format=fmt)

    # -- video jobs ------------------------------------------------------------------------

    @api.post("/v1/jobs", dependencies=AUTH, status_code=201)
    async def submit_job(self, req: jobs.JobRequest) -> Any:
        self._job_api.check_enabled()
        model = self._check_model(req.model)
        if req.dry_run:  # nothing is created: 200, not 201
            return JSONResponse({"plan": await self._job_api.plan(req, model)})
        return {"job_id": await self._job_api.submit(req, model)}

    @api.get("/v1/jobs/{job_id}", dependencies=AUTH)
    async def job(self, job_id: str) -> jobs.JobStatus:
        return await self._job_api.status(job_id)

    @api.get("/v1/jobs/{job_id}/preview/{name}", dependencies=AUTH, response_class=Response)
    async def job_preview(self, job_id: str, name: str) -> Response:
        """The job's growing preview: ``index.m3u8`` (HLS) and its segments."""
        blocks, media = await self._job_api.preview_file(job_id, name)
        return StreamingResponse(blocks, media_type=media, headers=NO_STORE)

    @api.get("/v1/jobs/{job_id}/output", dependencies=AUTH, response_class=Response)
    async def job_output(self, job_id: str) -> Response:
        """The finished job's output video."""
        blocks, media = await self._job_api.output_file(job_id)
        return StreamingResponse(blocks, media_type=media)

    @api.delete("/v1/jobs/{job_id}", dependencies=AUTH)
    async def delete_job(self, job_id: str) -> dict:
        """Stop a running job (a rerun resumes from its finished chunks); forget a finished
        one."""
        return await self._job_api.delete(job_id)

    # -- store small, upscale on read --------------------------------------------------------

    @api.put("/v1/objects/{key:path}", dependencies=AUTH, openapi_extra=IMAGE_BODY, status_code=201)
    async def put_object(
        self,
        request: Request,
        key: str,
        scale: float | None = Query(None, description="Downscale factor; default store.scale."),
        format: str | None = Query(None, description="Stored format; default store.format."),
    ) -> dict:
        store, key = self._check_store(key)
        scale = store.config.scale if scale is None else scale
        top = self._limits.max_outscale
        if not (math.isfinite(scale) and 1 < scale <= top):
            raise ConfigError(f"scale must be a number in (1, {top:g}], got {scale}")
        self._check_format(format)
        data = await image_from_body(request, self._limits.max_body_bytes)
        in_fmt = sniff_format(data)
        image = await asyncio.to_thread(
            decode_image, data, max_pixels=self._limits.max_input_pixels
        )
        h, w = image.shape[:2]
        if h * w > self._limits.max_output_pixels:  # a GET could not return it
            raise ImageTooLargeError(
                f"Image is {w}x{h} = {h * w} pixels; a read returns it at that size and "
                f"the output limit is {self._limits.max_output_pixels}"
            )
        fmt = format or (in_fmt if store.config.format == "same" else store.config.format)
        check_output_format(image, fmt)
        stored = await asyncio.to_thread(store.put, key, data, image, in_fmt, scale, fmt)
        return stored.answer()

    @api.get(
        "/v1/objects/{key:path}",
        dependencies=AUTH,
        responses=IMAGE_RESPONSE,
        response_class=Response,
    )
    async def get_object(
        self,
        key: str,
        model: str | None = Query(None, description="Registry name; default: the first."),
        raw: bool = Query(False, description="The stored small copy, as stored."),
        format: str | None = Query(None, description=f"{FORMAT_CHOICES}; default: original's."),
    ) -> Response:
        store, key = self._check_store(key)
        model = self._check_model(model)
        self._check_format(format)
        meta, small = await asyncio.to_thread(store.get, key)
        headers = {"X-Original-Size": f"{meta.width}x{meta.height}"}
        if raw:
            mime = IMAGE_FORMATS[meta.stored_format].mime
            return Response(small, media_type=mime, headers=headers)
        image = await asyncio.to_thread(decode_image, small)
        if image.shape[:2] != (meta.stored_height, meta.stored_width):
            raise ApiError(409, f"Object {key!r} is being replaced; retry", "conflict")
        fmt = format or meta.format
        check_output_format(image, fmt)
        result = await self._pool_upscale(image, model, None, 0, (meta.height, meta.width))
        encoded = await asyncio.to_thread(encode_image, result.image, fmt)
        headers |= self._headers(result)
        return Response(encoded, media_type=IMAGE_FORMATS[fmt].mime, headers=headers)

    @api.delete("/v1/objects/{key:path}", dependencies=AUTH)
    async def delete_object(self, key: str) -> dict:
        store, key = self._check_store(key)
        await asyncio.to_thread(store.delete, key)
        return {"key": key, "deleted": True}

    # -- internals -------------------------------------------------------------------------

    def _check_model(self, model: str | None) -> str:
        served = self._config.pool.models
        if model is None:
            return served[0]
        if model not in served:  # never a path: only what this service loads
            raise UnknownModelError(f"Unknown model {model[:64]!r}. Available: {', '.join(served)}")
        return model

    def _check_params(
        self,
        model: str | None,
        outscale: float | None,
        tile: int,
        fmt: str | None,
        faces: bool = False,
    ) -> str:
        name = self._check_model(model)
        if faces and self._config.pool.face_enhance is None:
            raise ConfigError("faces: this service restores no faces (its operator gave none)")
        top = self._limits.max_outscale
        if outscale is not None and not (math.isfinite(outscale) and 0 < outscale <= top):
            raise ConfigError(f"outscale must be a number in (0, {top:g}], got {outscale}")
        if not 0 <= tile <= self._limits.max_tile:
            raise ConfigError(f"tile must be in [0, {self._limits.max_tile}], got {tile}")
        self._check_format(fmt)
        return name

    async def _upscale_bytes(
        self,
        data: bytes,
        model: str,
        outscale: float | None,
        tile: int,
        fmt: str | None,
        faces: bool = False,
    ) -> tuple[bytes, str, Upscaled]:
        in_fmt = sniff_format(data)
        image = await asyncio.to_thread(
            decode_image, data, max_pixels=self._limits.max_input_pixels
        )
        scale = final_scale(outscale, resolve(model).scale)
        h, w = image.shape[:2]
        out_pixels = math.prod(scaled_size(h, w, scale))
        if out_pixels > self._limits.max_output_pixels:
            raise ImageTooLargeError(
                f"Output would be {out_pixels} pixels; the limit is "
                f"{self._limits.max_output_pixels}"
            )
        out_fmt = fmt or in_fmt
        check_output_format(image, out_fmt)
        result = await self._pool_upscale(image, model, outscale, tile, faces=faces)
        encoded = await asyncio.to_thread(encode_image, result.image, out_fmt)
        return encoded, out_fmt, result

    async def _pool_upscale(
        self,
        image: np.ndarray,
        model: str,
        outscale: float | None,
        tile: int,
        size: tuple[int, int] | None = None,
        *,
        faces: bool = False,
    ) -> Upscaled:
        h, w = image.shape[:2]
        auto = self._limits.auto_tile
        if tile == 0 and auto and max(h, w) > auto:
            tile = auto  # a large untiled forward could exhaust the replica's memory
        handle = self._pool.options(multiplexed_model_id=model)
        return await self._call(handle.upscale.remote(image, outscale, tile, size, faces))

    def _check_format(self, fmt: str | None) -> None:
        if fmt is not None:
            output_format(fmt)  # a name the table has: 422 before the body is read

    def _check_store(self, key: str) -> tuple[ObjectStore, str]:
        if self._store is None:
            raise ApiError(404, "No object store is configured (store.prefix)", "store_disabled")
        return self._store, check_key(key)

    async def _call(self, response: Any) -> Any:
        return await await_pool(response, self._config.ingress.retry_after_s)

    def _headers(self, result: Upscaled) -> dict[str, str]:
        return {
            "X-Batch-Size": str(result.batch_size),
            "X-Forward-Batch": str(result.forward_size),
            "X-Replica-Id": result.replica_id,
            "X-Ingress-Replica-Id": self._replica_id,
        }
