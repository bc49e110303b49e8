"""Shared video fixtures: small real files generated once per session with PyAV."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayapp.testing import SubtitleCue, make_test_video

CUES = (SubtitleCue(0, 400, "first cue"), SubtitleCue(600, 1100, "second cue"))


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def bframes_mkv(video_dir: Path) -> str:
    """2 s, 24 fps, x264 with B-frames, keyframe every 0.5 s, AAC audio, SubRip cues."""
    return make_test_video(
        str(video_dir / "bframes.mkv"), frames=48, bframes=2, gop=12, subtitles=CUES
    )


@pytest.fixture(scope="session")
def vfr_mp4(video_dir: Path) -> str:
    """Irregular frame spacing, B-frames, BT.709 tv-range tags, AAC, mov_text cues."""
    return make_test_video(
        str(video_dir / "vfr.mp4"),
        frames=36,
        vfr=True,
        bframes=3,
        gop=12,
        colour="bt709",
        subtitles=CUES,
    )


@pytest.fixture(scope="session")
def open_gop_mkv(video_dir: Path) -> str:
    """x265 open GOPs: CRA keyframes followed in decode order by earlier-shown frames."""
    return make_test_video(
        str(video_dir / "open_gop.mkv"),
        frames=40,
        codec="libx265",
        bframes=3,
        gop=8,
        open_gop=True,
        audio=False,
    )


@pytest.fixture(scope="session")
def ten_bit_mkv(video_dir: Path) -> str:
    return make_test_video(
        str(video_dir / "ten_bit.mkv"),
        frames=24,
        codec="libx265",
        pix_fmt="yuv420p10le",
        bframes=2,
        gop=12,
    )


@pytest.fixture(scope="session")
def rotated_mov(video_dir: Path) -> str:
    """Textured frames, display rotation 90 degrees, AAC, mov_text cues."""
    return make_test_video(
        str(video_dir / "rotated.mov"), frames=24, texture=True, rotation=90, subtitles=CUES
    )
