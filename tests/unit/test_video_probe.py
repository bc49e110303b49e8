"""probe() and plan_segments() on generated files."""

from __future__ import annotations

from fractions import Fraction

import av
import fsspec
import pytest

from rayapp.errors import ConfigError
from rayapp.testing import stream_packets
from rayapp.video import AudioStreamInfo, Colour, Keyframe, SubtitleStreamInfo, probe
from rayapp.video._segments import plan_segments


def test_probe_mkv_streams_and_keyframes(bframes_mkv: str) -> None:
    info = probe(bframes_mkv)
    video = info.video
    assert info.format_name == "matroska,webm"
    assert (video.codec, video.width, video.height) == ("h264", 64, 48)
    assert (video.pix_fmt, video.bit_depth) == ("yuv420p", 8)
    assert (video.average_rate, video.real_rate) == (Fraction(24), Fraction(24))
    assert video.time_base == Fraction(1, 1000)
    assert video.frame_count == 48
    # Matroska counts in milliseconds: frame i at round(i * 1000 / 24).
    assert list(video.frame_pts) == [round(i * 1000 / 24) for i in range(48)]
    assert video.keyframes == tuple(Keyframe(i, round(i * 1000 / 24)) for i in (0, 12, 24, 36))
    assert video.duration_s == pytest.approx(2.0, abs=0.002)
    assert video.rotation == 0
    assert info.audio == (AudioStreamInfo(1, "aac", 16000, 1, "mono", Fraction(1, 1000), None),)
    assert info.subtitles == (SubtitleStreamInfo(2, "subrip", Fraction(1, 1000), None),)
    assert isinstance(info.streams[2], SubtitleStreamInfo)


def test_probe_frame_pts_are_the_sorted_packet_pts(vfr_mp4: str) -> None:
    info = probe(vfr_mp4)
    packets = stream_packets(vfr_mp4, "video")
    # Decode order differs from presentation order (B-frames), ranks do not.
    assert [p.pts for p in packets] != sorted(p.pts for p in packets)
    assert list(info.video.frame_pts) == sorted(p.pts for p in packets)
    assert [k.pts for k in info.video.keyframes] == [p.pts for p in packets if p.is_keyframe]


def test_probe_colour_bit_depth_rotation(vfr_mp4: str, ten_bit_mkv: str, rotated_mov: str) -> None:
    assert probe(vfr_mp4).video.colour == Colour(range=1, primaries=1, transfer=1, matrix=1)
    ten = probe(ten_bit_mkv).video
    assert (ten.codec, ten.pix_fmt, ten.bit_depth) == ("hevc", "yuv420p10le", 10)
    assert probe(rotated_mov).video.rotation == 90


def test_probe_reads_memory_uri_without_a_local_file(bframes_mkv: str) -> None:
    fs = fsspec.filesystem("memory")
    with open(bframes_mkv, "rb") as f:
        fs.pipe("/probe-test/in.mkv", f.read())
    try:
        info = probe("memory://probe-test/in.mkv")
    finally:
        fs.rm("/probe-test", recursive=True)
    assert info.uri == "memory://probe-test/in.mkv"
    assert info.video.frame_pts == probe(bframes_mkv).video.frame_pts


def test_plan_segments_cover_every_frame_once_at_keyframes(bframes_mkv: str) -> None:
    info = probe(bframes_mkv)
    segments = plan_segments(info, 0.5)
    assert [(s.start, s.stop) for s in segments] == [(0, 12), (12, 24), (24, 36), (36, 48)]
    assert [s.seek_pts for s in segments] == [None, 500, 1000, 1500]
    assert [p for s in segments for p in s.frame_pts] == list(info.video.frame_pts)
    # Longer targets merge GOPs; a target longer than the video gives one segment.
    assert [(s.start, s.stop) for s in plan_segments(info, 0.9)] == [(0, 24), (24, 48)]
    assert [(s.start, s.stop) for s in plan_segments(info, 60)] == [(0, 48)]


def test_plan_segments_rejects_non_positive_target(bframes_mkv: str) -> None:
    with pytest.raises(ConfigError, match="target_s > 0"):
        plan_segments(probe(bframes_mkv), 0)


def test_open_gop_fixture_really_has_leading_frames(open_gop_mkv: str) -> None:
    """Guards the decode tests: after a later keyframe, frames shown before it follow."""
    with av.open(open_gop_mkv) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    keys = [i for i, p in enumerate(packets) if p.is_keyframe and i > 0]
    assert keys
    assert packets[keys[0] + 1].pts < packets[keys[0]].pts
