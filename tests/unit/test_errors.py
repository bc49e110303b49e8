"""The error table: every rayapp error class carries its exit code and HTTP status, and the
entry points (the ``rayapp`` command, ``python -m jobs.*``) and Serve answer with exactly
those, also for an error that reaches them wrapped by Ray."""

from __future__ import annotations

import inspect
import json
import signal
import subprocess
import sys

import pytest
from pydantic import ValidationError

from rayapp import errors
from rayapp.config import VideoJobConfig
from rayapp.entrypoint import run_entry_point
from rayapp.errors import ERRORS, EXIT_FAILED, EXIT_USER_ERROR, RayappError, describe
from serve.errors import rayapp_error_response

TABLE = sorted(ERRORS, key=lambda cls: cls.__name__)


def test_every_error_class_is_in_the_table() -> None:
    defined = {
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, RayappError) and obj.__module__ == errors.__name__
    }
    assert defined == set(ERRORS)
    assert {cls.__name__ for cls in ERRORS} >= {"ChunkFailedError", "ImageTooLargeError"}


@pytest.mark.parametrize("cls", TABLE, ids=lambda cls: cls.__name__)
def test_user_mistakes_are_exit_2_and_4xx_failures_exit_1_and_5xx(cls: type) -> None:
    assert cls.exit_code in (EXIT_USER_ERROR, EXIT_FAILED)
    if cls.exit_code == EXIT_USER_ERROR:
        assert 400 <= cls.http_status < 500
    else:
        assert 500 <= cls.http_status < 600
    assert cls.code.isidentifier() and cls.code.islower()


def _raise(error: BaseException) -> int:
    raise error


@pytest.mark.parametrize("cls", TABLE, ids=lambda cls: cls.__name__)
def test_entry_points_exit_with_the_tables_code(
    cls: type, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = []
    code = run_entry_point("prog", lambda: _raise(cls("what went wrong")), on_error=reports.append)
    assert code == cls.exit_code
    assert capsys.readouterr().err == "prog: error: what went wrong\n"
    assert [(r.exit_code, r.http_status, r.code) for r in reports] == [
        (cls.exit_code, cls.http_status, cls.code)
    ]


@pytest.mark.parametrize("cls", TABLE, ids=lambda cls: cls.__name__)
def test_serve_answers_with_the_tables_status(cls: type) -> None:
    response = rayapp_error_response(cls("what\nwent wrong"))
    assert response.status_code == cls.http_status
    body = json.loads(response.body)
    assert body == {"error": {"code": cls.code, "message": "what went wrong"}}


@pytest.mark.parametrize("cls", TABLE, ids=lambda cls: cls.__name__)
def test_an_error_wrapped_by_ray_keeps_its_meaning(cls: type) -> None:
    """Ray re-raises a task's exception as a RayTaskError that also subclasses it, with a
    remote traceback in its text: the report is the original's."""
    from ray.exceptions import RayTaskError

    original = cls("frames 3-5: what went wrong")
    wrapped = RayTaskError("decode_runs", "Traceback (most recent call last): ...", original)
    dual = wrapped.as_instanceof_cause()
    for error in (wrapped, dual):
        report = describe(error)
        assert report is not None
        assert (report.message, report.exit_code, report.http_status) == (
            "frames 3-5: what went wrong",
            cls.exit_code,
            cls.http_status,
        )


def test_a_chained_error_reports_the_outermost_rayapp_error() -> None:
    """A chunk that failed on a bad frame failed the job (exit 1), whatever the frame's error."""
    try:
        try:
            raise errors.InvalidVideoError("bad frame")
        except errors.InvalidVideoError as e:
            raise errors.ChunkFailedError("Frames 0-2 failed: bad frame") from e
    except errors.ChunkFailedError as e:
        report = describe(RuntimeError("the runner gave up"))
        assert report is None  # not ours: a bug, and shown as one
        try:
            raise RuntimeError("the runner gave up") from e
        except RuntimeError as outer:
            report = describe(outer)
    assert report is not None
    assert (report.message, report.exit_code) == ("Frames 0-2 failed: bad frame", EXIT_FAILED)


def test_a_bad_config_value_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        VideoJobConfig(input="a.mp4", output="b.mp4", crf=70)
    report = describe(caught.value)
    assert report is not None
    assert (report.exit_code, report.http_status, report.code) == (2, 422, "invalid_parameter")
    assert report.message == "crf: Input should be less than or equal to 63"
    assert run_entry_point("prog", lambda: _raise(caught.value)) == EXIT_USER_ERROR
    assert capsys.readouterr().err == f"prog: error: {report.message}\n"


def test_anything_else_is_a_failure_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_entry_point("prog", lambda: _raise(RuntimeError("boom\nsecond line"))) == 1
    assert (
        capsys.readouterr().err.splitlines()[-1] == "prog: failed: RuntimeError: boom second line"
    )


# A stand-in command: it says when it waits, and its finally block says it ran.
WAITING = """
import sys, time
from rayapp.entrypoint import run_entry_point

def main():
    try:
        print("waiting", flush=True)
        time.sleep(60)
        return 0
    finally:
        print("cleaned up", flush=True)

sys.exit(run_entry_point("prog", main))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_unwinds_even_when_the_command_started_with_it_ignored(
    signum: signal.Signals,
) -> None:
    # A non-interactive shell starts `command &` with SIGINT ignored, and Python keeps it so.
    def ignoring() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, "-c", WAITING],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignoring,  # noqa: PLW1509 - this test process starts no threads of its own
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "waiting\n"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (
        128 + signum,
        "cleaned up\n",
        f"prog: interrupted by {signum.name}\n",
    )
