"""ChunkEncoder: self-contained chunks that keep source pts, colour tags and bit depth."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rayapp.errors import ConfigError, FrameAccountingError, UnsupportedCodecError, VideoError
from rayapp.testing import NearestUpscaler, decode_video, frame_pattern
from rayapp.video import probe
from rayapp.video._codecs import EncodeSettings
from rayapp.video._decode import decode_segment
from rayapp.video._encode import Chunk, ChunkEncoder, chunk_uri
from rayapp.video._segments import plan_segments

FAST = EncodeSettings(preset="ultrafast")


def _encode_segment(uri: str, segment_index: int, out: str, settings: EncodeSettings) -> Chunk:
    info = probe(uri)
    segment = plan_segments(info, 0.5)[segment_index]
    upscaler = NearestUpscaler(2)
    h, w = upscaler.output_size(info.video.height, info.video.width)
    with ChunkEncoder(out, info.video, height=h, width=w, settings=settings) as enc:
        depth = 16 if enc.dtype == np.uint16 else 8
        for frame in decode_segment(uri, segment, depth=depth):
            image = upscaler.upscale_batch(frame.image[None])[0]
            enc.write(image, frame_index=frame.frame_index, pts=frame.pts)
    assert enc.chunk is not None
    return enc.chunk


def test_chunk_keeps_source_pts_and_starts_with_a_keyframe(vfr_mp4: str, tmp_path: Path) -> None:
    info = probe(vfr_mp4)
    out = chunk_uri(str(tmp_path), 12)
    assert out == f"{tmp_path}/chunk-000000012.mp4"
    chunk = _encode_segment(vfr_mp4, 1, out, FAST)
    assert chunk == Chunk(out, 12, 12)
    with av.open(out) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        time_base = container.streams.video[0].time_base
    assert packets[0].is_keyframe
    src_pts = info.video.frame_pts[12:24]
    assert sorted(p.pts * time_base for p in packets) == [p * info.video.time_base for p in src_pts]
    decoded = decode_video(out)
    assert decoded.indices == list(range(12, 24))


def test_chunk_copies_colour_tags(vfr_mp4: str, tmp_path: Path) -> None:
    out = str(tmp_path / "c.mp4")
    _encode_segment(vfr_mp4, 0, out, FAST)
    assert probe(out).video.colour == probe(vfr_mp4).video.colour


@pytest.mark.parametrize(
    ("settings", "pix_fmt", "codec"),
    [
        (EncodeSettings(preset="ultrafast"), "yuv420p10le", "h264"),
        (EncodeSettings("libx265", preset="ultrafast"), "yuv420p10le", "hevc"),
        (EncodeSettings("libvpx-vp9", preset="8"), "yuv420p", "vp9"),
    ],
)
def test_ten_bit_source_keeps_ten_bits_when_the_codec_can(
    ten_bit_mkv: str, tmp_path: Path, settings: EncodeSettings, pix_fmt: str, codec: str
) -> None:
    out = str(tmp_path / "c.mp4")
    _encode_segment(ten_bit_mkv, 0, out, settings)
    video = probe(out).video
    assert (video.codec, video.pix_fmt, video.width, video.height) == (codec, pix_fmt, 128, 96)
    assert decode_video(out).indices == list(range(12))


def test_svtav1_chunk(bframes_mkv: str, tmp_path: Path) -> None:
    out = str(tmp_path / "c.mp4")
    _encode_segment(bframes_mkv, 2, out, EncodeSettings("libsvtav1", preset="8"))
    assert probe(out).video.codec in {"av1", "libdav1d", "libaom-av1"}
    assert decode_video(out).indices == list(range(24, 36))


# A process that asks whether SVT-AV1 opens, then encodes two chunks with it.
SVT_CHUNKS = """
import sys
from rayapp.video import EncodeSettings, encoder_usable
from tests.unit.test_video_encode import _encode_segment

assert encoder_usable("libsvtav1") is None
for i in range(2):
    out = f"{sys.argv[2]}/c{i}.mp4"
    _encode_segment(sys.argv[1], i, out, EncodeSettings("libsvtav1", preset="8"))
"""


@pytest.mark.parametrize("level", [None, "3"], ids=["default", "users-info"])
def test_svtav1_says_only_its_errors_unless_asked(
    bframes_mkv: str, tmp_path: Path, level: str | None
) -> None:
    """SVT-AV1's banner (about 20 lines at its info level) would come with every chunk."""
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    if level is not None:
        env["SVT_LOG"] = level
    run = subprocess.run(
        [sys.executable, "-c", SVT_CHUNKS, bframes_mkv, str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=True,
        cwd=Path(__file__).parents[2],  # the repository: the subprocess imports tests/
    )  # fmt: skip
    banners = run.stderr.count("Svt[info]: SVT [version]")  # at least one per encoder
    if level is None:
        assert (banners, "Svt[" in run.stderr) == (0, False)
    else:
        assert banners >= 3


def test_unknown_codec_and_bad_options_are_refused() -> None:
    with pytest.raises(UnsupportedCodecError, match=r"Unknown output codec 'libfoo'.*libx264"):
        EncodeSettings("libfoo")
    with pytest.raises(ConfigError, match="crf in 0..51"):
        EncodeSettings(crf=70)
    with pytest.raises(UnsupportedCodecError, match="cannot encode pix_fmt 'rgb24'"):
        EncodeSettings(pix_fmt="rgb24")
    with pytest.raises(UnsupportedCodecError, match="width divisible by 2.*65x48"):
        EncodeSettings().check_size(48, 65, "yuv420p")


def test_failed_chunk_publishes_nothing(bframes_mkv: str, tmp_path: Path) -> None:
    video = probe(bframes_mkv).video
    out = tmp_path / "chunk.mp4"
    image = np.zeros((96, 128, 3), np.uint8)
    with pytest.raises(FrameAccountingError, match="expected frame 1 next, but got frame 2"):
        with ChunkEncoder(str(out), video, height=96, width=128, settings=FAST) as enc:
            enc.write(image, frame_index=0, pts=0)
            enc.write(image, frame_index=2, pts=84)
    with pytest.raises(
        VideoError, match=r"Expected a \(96, 128, 3\) \(or \(144, 128\) planes\) uint8 frame"
    ):
        with ChunkEncoder(str(out), video, height=96, width=128, settings=FAST) as enc:
            enc.write(image[:48], frame_index=0, pts=0)
    with pytest.raises(FrameAccountingError, match="no frames were written"):
        with ChunkEncoder(str(out), video, height=96, width=128, settings=FAST):
            pass
    assert list(tmp_path.iterdir()) == []


def test_frame_pattern_round_trips_through_encoder(bframes_mkv: str, tmp_path: Path) -> None:
    video = probe(bframes_mkv).video
    out = str(tmp_path / "c.mp4")
    with ChunkEncoder(out, video, height=48, width=64, settings=FAST) as enc:
        for i in (5, 6, 7):
            enc.write(frame_pattern(i, 48, 64, texture=True), frame_index=i, pts=i * 42)
    assert enc.chunk == Chunk(out, 5, 3)
    assert decode_video(out).indices == [5, 6, 7]


def test_chunk_starting_off_the_millisecond_grid_keeps_exact_pts(tmp_path) -> None:
    """x264 B-frames make the mp4 muxer write an edit list; in the default 1/1000 s movie
    timescale it would round a chunk that starts at 1/3 s (4096/12288) to 4092."""
    from rayapp.testing import make_test_video
    from rayapp.video import probe
    from rayapp.video._decode import decode_segment

    src = make_test_video(str(tmp_path / "in.mp4"), frames=12, width=32, height=24, gop=12)
    info = probe(src)
    frames = [f for f in decode_segment(src, plan_segments(info, 10)[0]) if f.frame_index >= 8]
    out = str(tmp_path / "chunk.mp4")
    with ChunkEncoder(out, info.video, height=24, width=32) as enc:
        for f in frames:
            enc.write(f.image, frame_index=f.frame_index, pts=f.pts)
    with av.open(out) as c:
        got = sorted(p.pts for p in c.demux(c.streams.video[0]) if p.pts is not None)
    assert info.video.time_base == Fraction(1, 12288)
    assert got == [f.pts for f in frames] == [4096, 4608, 5120, 5632]


def test_a_codec_family_encodes_on_the_replicas_device() -> None:
    """h264 on a CPU replica is libx264; on a CUDA replica it is NVENC where NVENC opens,
    with its quality from crf and its preset from x264's names."""
    h264 = EncodeSettings(crf=18, preset="veryfast")
    assert h264.for_device("cpu").codec == "libx264"
    on_gpu = h264.for_device("cuda", usable=lambda name: None)  # a GPU whose NVENC opens
    assert on_gpu.codec == "h264_nvenc"
    assert on_gpu.encoder_options() == {
        "rc": "vbr", "b": "0", "tune": "hq", "cq": "18", "preset": "p3"
    }  # fmt: skip
    assert EncodeSettings("hevc").for_device("cuda", usable=lambda n: None).codec == "hevc_nvenc"
    assert EncodeSettings("av1").for_device("cuda", usable=lambda n: None).codec == "av1_nvenc"
    assert EncodeSettings("vp9").for_device("cuda", usable=lambda n: None).codec == "libvpx-vp9"


def test_an_encoder_by_name_is_used_as_asked() -> None:
    for name in ("libx264", "libx265", "h264_nvenc"):
        assert EncodeSettings(name).for_device("cuda", usable=lambda n: None).codec == name
        assert EncodeSettings(name).for_device("cpu").codec == name


def test_nvenc_that_cannot_open_falls_back_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    """This machine has no NVIDIA driver: PyAV's h264_nvenc is built but does not open, so a
    CUDA replica would encode with libx264, and say so once."""
    from rayapp.video._codecs import _log_fallback, encoder_usable

    why_not = encoder_usable("h264_nvenc")
    if why_not is None:
        pytest.skip("NVENC opens on this machine: nothing falls back")
    _log_fallback.cache_clear()  # said once per process: an earlier test may have said it
    with caplog.at_level("WARNING", logger="rayapp.video._codecs"):
        for _ in range(3):
            assert EncodeSettings().for_device("cuda").codec == "libx264"
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"h264_nvenc cannot open here ({why_not}); encoding with libx264"]


def test_nvenc_keeps_ten_bits_in_its_own_format(ten_bit_mkv: str) -> None:
    source = probe(ten_bit_mkv).video
    assert EncodeSettings("hevc_nvenc").resolve_pix_fmt(source) == "p010le"
    assert EncodeSettings("hevc").resolve_pix_fmt(source) == "yuv420p10le"  # libx265
