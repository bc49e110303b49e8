"""Request bodies: read with a byte cap, unwrap multipart, recognise the image format.

Nothing here decodes pixels; ``rayapp.images.decode_image`` does that after these checks
(and checks the declared pixel count from the header before allocating anything).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator, Callable

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rayapp.image_formats import IMAGE_FORMATS
from rayapp.image_formats import sniff_format as sniff
from serve.errors import ApiError

__all__ = [
    "FORMAT_CHOICES",
    "IMAGE_BODY",
    "IMAGE_RESPONSE",
    "IMAGE_TYPES",
    "Base64Request",
    "Base64Response",
    "BodyLimit",
    "base64_image",
    "image_from_body",
    "read_body",
    "sniff_format",
]

IMAGE_TYPES = {*(f.mime for f in IMAGE_FORMATS.values()), "application/octet-stream"}
FORMAT_CHOICES = " | ".join(IMAGE_FORMATS)  # what a format parameter's description lists
_MULTIPART = "multipart/form-data"

# OpenAPI for the bytes route: the body is the image itself, or a multipart "file" field.
IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            **{
                f.mime: {"schema": {"type": "string", "format": "binary"}}
                for f in IMAGE_FORMATS.values()
            },
            _MULTIPART: {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}
IMAGE_RESPONSE = {
    200: {"content": {f.mime: {} for f in IMAGE_FORMATS.values()}, "description": "Image"}
}


class Base64Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(..., description="The image, base64 (a data: URL prefix is allowed).")
    model: str | None = Field(None, description="Registry name; default: the first served.")
    outscale: float | None = Field(None, description="Final scale; default: the model's.")
    tile: int = Field(0, description="Tile size in input pixels; 0 = none.")
    format: str | None = Field(None, description=f"{FORMAT_CHOICES}; default: the input's.")
    faces: bool = Field(False, description="Restore the faces (where the service offers it).")


class Base64Response(BaseModel):
    image: str
    width: int
    height: int
    format: str


def base64_image(text: str) -> bytes:
    """The image bytes of a base64 string or data: URL (400 if invalid or empty)."""
    text = text.split(",", 1)[1] if text.startswith("data:") else text
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "image is not valid base64", "invalid_base64") from None
    if not data:
        raise ApiError(400, "Empty image", "empty_body")
    return data


class BodyLimit:
    """ASGI middleware: no route reads more than ``limit()`` body bytes (413 past it)."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, seen = self.limit(), 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise ApiError(413, f"Body is over the limit of {limit} bytes")
            return message

        await self.app(scope, capped, send)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, f"Content-Length must be a number, got {declared[:32]!r}")
        if int(declared) > max_bytes:
            raise ApiError(413, f"Body is {declared} bytes; the limit is {max_bytes}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"Body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def image_from_body(request: Request, max_bytes: int) -> bytes:
    """Image bytes from a raw ``image/*`` body or a multipart form's file field."""
    kind = media_type(request)
    if kind not in IMAGE_TYPES and kind != _MULTIPART:
        types = ", ".join(f.mime for f in IMAGE_FORMATS.values())
        raise ApiError(
            415, f"Expected a body of type {types} or {_MULTIPART}, but got {kind or 'none'!r}"
        )
    body = await read_body(request, max_bytes)
    if kind == _MULTIPART:
        body = await _file_field(request, body, max_bytes)
    if not body:
        raise ApiError(400, "Empty body: expected image bytes", "empty_body")
    return body


async def _file_field(request: Request, body: bytes, max_bytes: int) -> bytes:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers, stream(), max_files=1, max_fields=8, max_part_size=max_bytes
    )
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise ApiError(400, f"Malformed multipart body: {e.message}", "bad_multipart") from e
    try:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise ApiError(400, "Multipart body has no file field", "bad_multipart")
        return await files[0].read()
    finally:
        await form.close()


def sniff_format(data: bytes) -> str:
    """The image format from the magic bytes; anything else is 415."""
    fmt = sniff(data)
    if fmt is None:
        names = ", ".join(f.name.upper() for f in IMAGE_FORMATS.values())
        raise ApiError(
            415, f"Unsupported image format: expected {names} bytes", "unsupported_image"
        )
    return fmt
