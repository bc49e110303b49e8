"""What every entry point shares (the ``rayapp`` command, ``python -m jobs.*``): an error
becomes one readable line on stderr and the exit code the error table gives it.

A user mistake (``ConfigError``, a bad input, ...) exits 2, a job that failed exits 1
(``rayapp.errors``); anything else is a bug, logged with its traceback, and exits 1.

SIGINT and SIGTERM stop a command promptly at any stage, the same way: the stack unwinds as
for Ctrl-C (every ``finally`` runs: replicas stopped, temporary files removed, a job's
finished chunks kept for a rerun), then ``{prog}: interrupted by SIGTERM`` and exit
128 + the signal's number, as shells report it (130 for SIGINT, 143 for SIGTERM).

Both handlers are installed even where the process started with SIGINT ignored, as a
non-interactive shell starts every ``command &`` (and Python then leaves it ignored): a
job started in the background by a script still stops on ``kill -INT``, as ffmpeg does.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from rayapp.errors import EXIT_FAILED, ErrorReport, describe

__all__ = ["EXIT_INTERRUPTED", "STOP_SIGNALS", "Stopped", "run_entry_point", "run_job"]

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class Stopped(KeyboardInterrupt):
    """A signal asked the process to stop (SIGINT or SIGTERM); unwinds as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []  # the signals _stop took: Ray's calls may re-raise a bare Ctrl-C


def _stop(signum: int, frame: object) -> None:
    _received.append(signum)
    raise Stopped(signum)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _stopping_on_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    previous = {signum: signal.signal(signum, _stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_entry_point(
    prog: str,
    main: Callable[[], int],
    *,
    on_error: Callable[[ErrorReport], None] | None = None,
) -> int:
    """``main()``'s exit code; an error is reported as ``{prog}: error: {message}``.
    ``on_error`` also sees the report (the video job publishes it for the jobs API)."""
    try:
        with _stopping_on_signals():
            return main()
    except SystemExit:
        raise
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Stopped) else (_received or [signal.SIGINT])[-1]
        print(f"{prog}: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        return 128 + signum
    except Exception as e:  # noqa: BLE001 - every error ends as one line and an exit code
        report = describe(e)
        if report is None:
            logging.getLogger(prog).error("failed", exc_info=e)
            print(f"{prog}: failed: {type(e).__name__}: {_one_line(str(e))}", file=sys.stderr)
            return EXIT_FAILED
        if on_error is not None:
            on_error(report)
        print(f"{prog}: error: {_one_line(report.message)}", file=sys.stderr)
        return report.exit_code


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run_job(
    name: str, main: Callable[[], int], *, on_error: Callable[[ErrorReport], None] | None = None
) -> int:
    """A ``python -m jobs.<name>`` entry point: its log (INFO, with times) on stdout, where
    Ray's job API collects it, and only the error line on stderr."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stdout
    )
    return run_entry_point(name, main, on_error=on_error)
