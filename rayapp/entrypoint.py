"""What every entry point shares (the ``rayapp`` command, ``python -m jobs.*``): an error
becomes one readable line on stderr and the exit code the error table gives it.

A user mistake (``ConfigError``, a bad input, ...) exits 2, a job that failed exits 1
(``rayapp.errors``); anything else is a bug, logged with its traceback, and exits 1.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from rayapp.errors import EXIT_FAILED, ErrorReport, describe

__all__ = ["EXIT_INTERRUPTED", "run_entry_point", "run_job"]

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def run_entry_point(
    prog: str,
    main: Callable[[], int],
    *,
    on_error: Callable[[ErrorReport], None] | None = None,
) -> int:
    """``main()``'s exit code; an error is reported as ``{prog}: error: {message}``.
    ``on_error`` also sees the report (the video job publishes it for the jobs API)."""
    try:
        return main()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
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
