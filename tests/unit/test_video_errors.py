"""Hostile inputs: one clear RayappError each, and nothing written at the output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from rayapp.errors import (
    ContainerError,
    InvalidVideoError,
    RayappError,
    StorageError,
)
from rayapp.testing import NearestUpscaler, make_audio_only, make_test_video
from tests.local_job import upscale_locally


def _truncated(ext: str) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        full = Path(make_test_video(str(tmp / f"full{ext}"), frames=48))
        cut = tmp / f"cut{ext}"
        cut.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
        return str(cut)

    return make


def _not_a_video(tmp: Path) -> str:
    path = tmp / "notes.mp4"
    path.write_text("these are meeting notes, not a video\n" * 50)
    return str(path)


def _zero_bytes(tmp: Path) -> str:
    (tmp / "empty.mp4").write_bytes(b"")
    return str(tmp / "empty.mp4")


def _a_directory(tmp: Path) -> str:
    """A folder (on S3: a prefix) named like a video, with a file in it."""
    (tmp / "folder.mp4").mkdir()
    (tmp / "folder.mp4" / "part-0.bin").write_bytes(b"\x00" * 64)
    return str(tmp / "folder.mp4")


CASES = {
    "zero-bytes": (_zero_bytes, InvalidVideoError, r"empty\.mp4 is empty \(0 bytes\)"),
    "directory": (_a_directory, StorageError, r"folder\.mp4 is a directory; expected a file"),
    "truncated-mp4": (_truncated(".mp4"), InvalidVideoError, "is not a readable media file"),
    "truncated-mkv": (
        _truncated(".mkv"),
        InvalidVideoError,
        r"is truncated: its header declares 2\.\d+ s",
    ),
    "not-a-video": (_not_a_video, InvalidVideoError, "notes.mp4 is not a readable media file"),
    "audio-only": (
        lambda tmp: make_audio_only(str(tmp / "sound.m4a")),
        InvalidVideoError,
        r"has no video stream; found: audio \(aac\)",
    ),
    "zero-frames": (
        lambda tmp: make_test_video(str(tmp / "empty.mkv"), frames=0),
        InvalidVideoError,
        r"has a video stream \(#0\) but no video frames",
    ),
    "missing": (lambda tmp: str(tmp / "nowhere.mp4"), StorageError, "Input not found: .*nowhere"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input(case: str, tmp_path: Path) -> None:
    make, error, message = CASES[case]
    src = make(tmp_path)
    out = tmp_path / "out" / "result.mp4"
    with pytest.raises(error, match=message) as caught:
        upscale_locally(src, str(out), NearestUpscaler(2), preset="ultrafast")
    assert isinstance(caught.value, RayappError)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "output", "error", "message"),
    [
        # The codec is a choice of the config (the codec table's names): refused there.
        ({"codec": "libfoo"}, "out.mp4", ValidationError, "codec\n  Input should be 'h264'"),
        ({"codec": "libx264"}, "out.webm", ContainerError, r"\.webm cannot carry libx264"),
        ({"codec": "libvpx-vp9"}, "out.webm", ContainerError, r"audio stream #1 \(aac\)"),
        ({}, "out.avi", ContainerError, "expected an extension among"),
    ],
)
def test_bad_output_choices_fail_before_any_work(
    bframes_mkv: str, tmp_path: Path, kwargs: dict, output: str, error: type, message: str
) -> None:
    work = tmp_path / "work"
    with pytest.raises(error, match=message):
        upscale_locally(
            bframes_mkv, str(tmp_path / output), NearestUpscaler(2), work=str(work), **kwargs
        )
    assert list(tmp_path.iterdir()) == []


def test_failure_while_upscaling_leaves_no_output(bframes_mkv: str, tmp_path: Path) -> None:
    class Broken(NearestUpscaler):
        def upscale_batch(self, frames):  # type: ignore[no-untyped-def]
            return frames[:, :10]

    out = tmp_path / "out.mkv"
    with pytest.raises(RayappError, match=r"Expected the upscaler to return \(4, 96, 128, 3\)"):
        upscale_locally(bframes_mkv, str(out), Broken(2), preset="ultrafast", micro_batch=4)
    assert list(tmp_path.iterdir()) == []
