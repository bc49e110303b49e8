"""A video stored small and restored: ``mode=downscale`` writes a small copy (audio,
subtitles, timing and colour kept) with the original's size in its container, and an upscale
job of that copy comes back at exactly that size, through the real model."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayapp.config import UpscaleConfig, VideoJobConfig
from rayapp.pipeline import run_video_job
from rayapp.resize import Downscaler
from rayapp.testing import decode_video, stream_packets, subtitle_cues
from rayapp.video import probe


def _same_timeline_and_streams(src: str, out: str) -> None:
    sv, decoded = probe(src).video, decode_video(out)
    assert decoded.pts == [round(p * sv.time_base / decoded.time_base) for p in sv.frame_pts]
    assert [bytes(p) for p in stream_packets(out, "audio")] == [
        bytes(p) for p in stream_packets(src, "audio")
    ]
    assert subtitle_cues(out) == subtitle_cues(src)
    assert probe(out).video.colour == sv.colour


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_downscale_records_the_original_size_and_upscale_restores_it(
    vfr_mp4: str, tmp_path: Path, ext: str
) -> None:
    small = str(tmp_path / f"small{ext}")
    config = VideoJobConfig(input=vfr_mp4, output=small, mode="downscale", downscale=3)
    stored = run_video_job(config, runner="local", progress=())
    # 64x48 / 3 = 21.3x16: to the nearest even size for 4:2:0 chroma
    assert (stored.input_size, stored.output_size) == ((64, 48), (22, 16))
    assert probe(small).original_size == (64, 48)
    assert stored.report["integrity"]["ok"], stored.report["integrity"]
    _same_timeline_and_streams(vfr_mp4, small)

    restored_uri = str(tmp_path / f"restored{ext}")
    upscale = UpscaleConfig(device="cpu", precision="fp32")  # x4: 88x64, then exactly 64x48
    restored = run_video_job(
        VideoJobConfig(input=small, output=restored_uri, upscale=upscale),
        runner="local",
        progress=(),
    )
    assert restored.output_size == (64, 48)
    info = probe(restored_uri)
    assert (info.video.width, info.video.height, info.original_size) == (64, 48, None)
    assert restored.report["integrity"]["ok"]
    _same_timeline_and_streams(vfr_mp4, restored_uri)
    # each frame still shows its own index after the round trip
    assert decode_video(restored_uri).indices == list(range(probe(vfr_mp4).video.frame_count))


def test_an_explicit_outscale_overrides_the_recorded_size(vfr_mp4: str, tmp_path: Path) -> None:
    small = str(tmp_path / "small.mkv")
    run_video_job(
        VideoJobConfig(input=vfr_mp4, output=small, mode="downscale", downscale=2),
        runner="local",
        progress=(),
    )
    config = VideoJobConfig(
        input=small,
        output=str(tmp_path / "x1.5.mkv"),
        upscale=UpscaleConfig(device="cpu", precision="fp32", outscale=1.5),
    )
    assert run_video_job(config, runner="local", progress=()).output_size == (48, 36)


def test_downscaler_sizes_are_even_and_its_identity_names_the_factor() -> None:
    assert Downscaler(4).output_size(1080, 1920) == (270, 480)
    assert Downscaler(3).output_size(50, 66) == (16, 22)
    assert Downscaler(100).output_size(48, 64) == (2, 2)
    assert Downscaler(2).identity != Downscaler(3).identity
    with pytest.raises(ValueError, match="above 1"):
        Downscaler(1)
