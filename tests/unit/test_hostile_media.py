"""The hostile-media corpus (``tests.hostile``) through ``rayapp video``: each case
works frame-exact or fails with its one line and exit 2, and leaves nothing at the output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rayapp import cli
from rayapp.images import decode_image
from tests.hostile import IMAGE_CASES, VIDEO_CASES, HostileCase, make_case
from tests.hostile_check import CASES, assert_frame_exact, output_for

pytestmark = pytest.mark.slow


def test_the_corpus_is_large_and_decided() -> None:
    assert len(VIDEO_CASES) >= 40 and len(IMAGE_CASES) >= 10
    assert len(CASES) == len(VIDEO_CASES)  # names are unique
    assert sum(c.works for c in VIDEO_CASES) >= 10
    for case in (*VIDEO_CASES, *IMAGE_CASES):
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


@pytest.mark.parametrize("name", [c.name for c in IMAGE_CASES])
def test_rayapp_upscale_image(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = next(c for c in IMAGE_CASES if c.name == name)
    src = make_case(case, tmp_path / "in")
    out = tmp_path / "out" / f"result{Path(src).suffix}"
    out.parent.mkdir()
    code = cli.main(["upscale", src, str(out), "--outscale", "2"])
    err = capsys.readouterr().err
    if case.works:
        assert code == 0, err
        want = decode_image(Path(src).read_bytes())
        got = decode_image(out.read_bytes())
        assert got.shape[:2] == (2 * want.shape[0], 2 * want.shape[1])
        assert (got.ndim, got.dtype) == (want.ndim, want.dtype)
        return
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rayapp: error: ") and re.search(case.message, lines[0]), err
    assert list(out.parent.iterdir()) == []
