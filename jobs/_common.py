"""What every job entry point shares: logging, connecting to Ray, turning errors into one
readable line and an exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pydantic import ValidationError

from rayapp.errors import RayappError

EXIT_USER_ERROR = 2
EXIT_FAILED = 1


def _root_cause(e: BaseException) -> BaseException:
    """The first RayappError in the cause chain (Ray wraps errors raised in tasks)."""
    seen = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, RayappError | ValidationError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or getattr(cur, "cause", None) or cur.__context__
    return e


def run_job(name: str, job: Callable[[], int]) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stdout
    )
    try:
        return job()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - turned into one line and an exit code
        cause = _root_cause(e)
        if isinstance(cause, ValidationError):
            err = cause.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            print(f"{name}: error: {where}: {err['msg']}", file=sys.stderr)
            return EXIT_USER_ERROR
        if isinstance(cause, RayappError):
            print(f"{name}: error: {cause}", file=sys.stderr)
            return EXIT_USER_ERROR if _is_user_error(cause) else EXIT_FAILED
        logging.getLogger(name).exception("job failed")
        print(f"{name}: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAILED


def _is_user_error(e: RayappError) -> bool:
    from rayapp.errors import (
        ConfigError,
        ContainerError,
        InputImageError,
        InvalidVideoError,
        StorageError,
        UnknownModelError,
        UnsupportedCodecError,
        WeightsError,
    )

    return isinstance(
        e,
        ConfigError
        | InvalidVideoError
        | StorageError
        | UnknownModelError
        | UnsupportedCodecError
        | WeightsError
        | ContainerError
        | InputImageError,
    )
