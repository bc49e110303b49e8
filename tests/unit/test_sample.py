"""The quick start's sample clip (the quick start itself, ``scripts/quickstart.sh``, runs as
the README says in tests/e2e/test_readme_commands.py)."""

from __future__ import annotations

from pathlib import Path

from rayapp.sample import make_sample_video
from rayapp.video import probe

WIDTH, HEIGHT = 160, 120


def test_sample_video(tmp_path: Path) -> None:
    info = probe(make_sample_video(str(tmp_path / "s.mp4"), seconds=1.5))
    assert info.video.codec == "h264"
    assert (info.video.width, info.video.height, info.video.pix_fmt) == (WIDTH, HEIGHT, "yuv420p")
    assert info.video.frame_count == 36
    assert [k.frame_index for k in info.video.keyframes] == [0, 24]  # one per second
    (audio,) = info.audio
    assert (audio.codec, audio.sample_rate, audio.channels) == ("aac", 48_000, 2)
