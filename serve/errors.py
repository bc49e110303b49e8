"""Every HTTP error is ``{"error": {"code", "message"}}`` with the right status.

``ApiError`` is raised by the routes for what only HTTP has (auth, bodies, routes); a rayapp
error answers with the status and code of the error table (``rayapp.errors``). The handlers
installed by ``install_error_handlers`` turn those, FastAPI's validation errors and
Starlette's 404/405 into that body. Messages say what was expected and what came, and never
carry a credential.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray.exceptions import RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rayapp.errors import ErrorReport, RayappError, describe

__all__ = [
    "ApiError",
    "await_pool",
    "error_response",
    "rayapp_error_response",
    "install_error_handlers",
    "validation_message",
]

log = logging.getLogger("rayapp.serve")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    500: "internal",
    503: "overloaded",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def rayapp_error_response(exc: RayappError) -> JSONResponse:
    """The answer the error table gives ``exc`` (or, for Ray's wrapper of a replica's error,
    the error it wraps)."""
    report = describe(exc) or ErrorReport.of(exc)
    return error_response(report.http_status, report.code, " ".join(report.message.split()))


def validation_message(errors: list[dict]) -> str:
    """Pydantic/FastAPI errors -> one line naming each bad field (never echoing input)."""
    parts = []
    for err in errors:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RayappError)
    async def _rayapp(request: Request, exc: RayappError) -> JSONResponse:
        return rayapp_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_parameter", validation_message(exc.errors()))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged here with its traceback; the client learns only the exception's type.
        log.error("unhandled %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
        return error_response(500, "internal", f"Internal error ({type(exc).__name__})")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)


async def await_pool(response: Awaitable[Any], retry_after_s: float) -> Any:
    """Await a model pool call; overload is 503 + Retry-After, a replica failure 500."""
    try:
        return await response
    except BackPressureError as e:
        retry = e.retry_after_s or retry_after_s
        raise ApiError(
            503,
            "The model pool is at capacity; retry later",
            "overloaded",
            {"Retry-After": str(math.ceil(retry))},
        ) from None
    except RayappError:
        raise  # a bad input seen by the replica: answered from the error table
    except (RayTaskError, RayActorError) as e:
        log.warning("model pool call failed: %s", type(e).__name__)
        raise ApiError(500, "Upscaling failed on the model replica", "internal") from None
