"""The hostile-media corpus (``rayapp.testing.hostile``) through ``rayapp video``: each case
works frame-exact or fails with its one line and exit 2, and leaves nothing at the output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rayapp import cli
from rayapp.testing.hostile import VIDEO_CASES, HostileCase, make_case
from tests.hostile_check import assert_frame_exact

pytestmark = pytest.mark.slow

CASES = {case.name: case for case in VIDEO_CASES}


def output_for(src: str, folder: Path) -> Path:
    """Where a case's output goes: the same container as its input (MKV for the rest)."""
    ext = Path(src).suffix if Path(src).suffix in (".mp4", ".mkv") else ".mkv"
    return folder / "out" / f"result{ext}"


def test_the_corpus_is_large_and_decided() -> None:
    assert len(VIDEO_CASES) >= 40
    assert len(CASES) == len(VIDEO_CASES)  # names are unique
    assert sum(c.works for c in VIDEO_CASES) >= 10
    for case in VIDEO_CASES:
        assert case.why
        assert case.works == (case.message == "")


@pytest.mark.parametrize("name", list(CASES))
def test_rayapp_video(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case: HostileCase = CASES[name]
    src = make_case(case, tmp_path / "in")
    out = output_for(src, tmp_path)
    code = cli.main(["video", src, str(out), "--preset", "ultrafast", "--no-progress"])
    err = capsys.readouterr().err
    if case.works:
        assert code == 0, err
        assert_frame_exact(src, str(out), tmp_path)
        return
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # that line alone: no traceback, no log noise
    assert lines[0].startswith("rayapp: error: ")
    assert re.search(case.message, lines[0]), lines[0]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
