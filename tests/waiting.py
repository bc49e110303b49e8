"""Every wait of the tests, bounded and self-explaining: one ``wait_until`` (Ray's
``wait_for_condition``) instead of a deadline loop in each file."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["WaitTimeout", "wait_until"]

T = TypeVar("T")


class WaitTimeout(AssertionError, TimeoutError):
    """What a test waited for did not come in time: a failed test, caught as either."""


def wait_until(
    predicate: Callable[[], T],
    timeout_s: float,
    what: str,
    *,
    interval_s: float = 0.5,
    retry_on: tuple[type[Exception], ...] = (),
    state: Callable[[], object] | None = None,
) -> T:
    """Calls ``predicate()`` every ``interval_s`` until it returns something truthy, and
    returns that. ``retry_on``: errors that mean "not yet" (a server still starting); any
    other error ends the wait at once. After ``timeout_s``, a ``WaitTimeout`` names ``what``
    was awaited and shows ``state()`` (default: the predicate's last answer or error)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = predicate()
        except retry_on as e:
            last: object = e
        else:
            if value:
                return value
            last = value
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            shown = _short(last if state is None else state())
            raise WaitTimeout(f"Timed out after {timeout_s:g} s waiting for {what}; last: {shown}")
        time.sleep(min(interval_s, left_s))


def _short(value: object, limit: int = 3000) -> str:
    """``value`` for a failure message: a text as it is (a log), anything else as its repr;
    the middle of a long one left out."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit // 3]}\n[...]\n{text[-2 * limit // 3 :]}"
