"""The quick start (``python -m jobs.demo``) on a module-scoped local Ray, with a short clip."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from jobs import demo
from rayapp.sample import make_sample_video
from rayapp.video import probe

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SECONDS, FPS = 0.5, 24
WIDTH, HEIGHT = 160, 120


def _audio(path: str) -> list[bytes]:
    with av.open(path) as container:
        return [bytes(p) for p in container.demux(container.streams.audio) if p.size]


def test_sample_video(tmp_path: Path) -> None:
    info = probe(make_sample_video(str(tmp_path / "s.mp4"), seconds=1.5))
    assert info.video.codec == "h264"
    assert (info.video.width, info.video.height, info.video.pix_fmt) == (WIDTH, HEIGHT, "yuv420p")
    assert info.video.frame_count == 36
    assert [k.frame_index for k in info.video.keyframes] == [0, 24]  # one per second
    (audio,) = info.audio
    assert (audio.codec, audio.sample_rate, audio.channels) == ("aac", 48_000, 2)


def test_demo(ray_local: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "demo.mp4")
    assert demo.main(["--output", out, "--seconds", str(SECONDS)]) == 0

    frames = round(SECONDS * FPS)
    # The sample is deterministic: the same clip made here is the demo's input.
    reference = make_sample_video(str(tmp_path / "reference.mp4"), seconds=SECONDS)
    info, source = probe(out), probe(reference)
    assert info.video.frame_count == source.video.frame_count == frames
    assert (info.video.width, info.video.height) == (2 * WIDTH, 2 * HEIGHT)
    assert info.video.time_base == source.video.time_base
    assert info.video.frame_pts == source.video.frame_pts
    want = _audio(reference)
    assert len(want) == len(_audio(out)) == 25  # 0.5 s of 48 kHz AAC, priming frame included
    assert _audio(out) == want

    printed = capsys.readouterr().out
    assert f"frames     {frames} of {frames}" in printed
    assert f"{WIDTH}x{HEIGHT} -> {2 * WIDTH}x{2 * HEIGHT}" in printed
    assert "byte-identical to the sample" in printed
