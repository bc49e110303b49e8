"""Broadcast and archive sources through the video job (local runner): interlaced (25i top
and bottom field first), HDR10 and HLG, anamorphic, a start timecode; each source made here
with PyAV, each cut into several chunks."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rayapp.errors import ContainerError, UnsupportedCodecError
from rayapp.quality import combing, psnr
from rayapp.testing import (
    NearestUpscaler,
    decode_video,
    make_test_video,
    read_frame_index,
    stream_packets,
)
from rayapp.testing.make import HDR10_LIGHT, frame_caption
from rayapp.testing.patterns import film_frame
from rayapp.video import (
    Deinterlace,
    MediaInfo,
    Segment,
    decode_segment,
    deinterlace_for,
    field_rate,
    film_frames,
    film_rate,
    plan_segments,
    probe,
    to_rgb,
)
from tests.local_job import check_output, upscale_locally
from tests.unit.test_cli import rayapp

# HDR10_MASTERING as the output's side data must read back: G, B, R, white point (x, y) in
# 0.00002, max and min luminance in 0.0001 cd/m2.
MASTERING = (13250, 34500, 7500, 3000, 34000, 16000, 15635, 16450, 10000000, 50)


def frames_of(uri: str) -> np.ndarray:
    with av.open(uri) as container:
        return np.stack([to_rgb(f) for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def interlaced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """25i clips, 16 frames (keyframes every 4), audio: top field first and bottom first."""
    folder = tmp_path_factory.mktemp("interlaced")
    return {
        parity: make_test_video(
            str(folder / f"{parity}.mkv"), frames=16, fps=25, gop=4, interlaced=parity
        )
        for parity in ("tff", "bff")
    }


@pytest.fixture(scope="module")
def telecined(tmp_path_factory: pytest.TempPathFactory) -> str:
    """16 film frames telecined to 20 video frames (3:2 pulldown, 30 a second), keyframes
    every 5, coded interlaced top field first, audio."""
    path = tmp_path_factory.mktemp("telecine") / "telecined.mp4"
    return make_test_video(
        str(path), frames=20, fps=30, gop=5, telecine=True, interlaced="tff", width=128, height=96
    )


# The film frame each video frame of ``telecined`` shows once its fields are matched: the
# pulldown's third frame (B top, C bottom) takes B's bottom field from the frame before.
FIELD_MATCHED = [4 * (i // 5) + (0, 1, 1, 2, 3)[i % 5] for i in range(20)]


@pytest.fixture(scope="module")
def hdr10(tmp_path_factory: pytest.TempPathFactory) -> str:
    """HEVC 10-bit PQ BT.2020 with mastering display and content light level, 8 frames."""
    path = tmp_path_factory.mktemp("hdr") / "hdr10.mkv"
    return make_test_video(
        str(path), frames=8, gop=4, codec="libx265", pix_fmt="yuv420p10le", colour="hdr10"
    )


@pytest.mark.parametrize("parity", ["tff", "bff"])
def test_an_interlaced_source_is_deinterlaced_frame_for_frame(
    interlaced: dict[str, str], parity: str, tmp_path: Path
) -> None:
    src = interlaced[parity]
    assert probe(src).video.field_order == parity
    out = str(tmp_path / "out.mkv")
    result = upscale_locally(src, out, NearestUpscaler(2), segment_s=0.1, chunk_frames=3)
    # Cut every 3 frames inside the one scene: chunks start between keyframes too.
    assert result.chunks_total == 6
    check_output(src, out)  # every frame once at its source pts, the audio, the colour
    checks = result.report["integrity"]
    assert checks["field_order"] == {
        "source": parity, "output": "progressive", "deinterlaced": parity, "ivtc": False,
        "field_rate": False, "ok": True,
    }  # fmt: skip
    assert probe(out).video.field_order == "progressive"
    # Combing measured at the source's size: the woven fields' teeth are gone.
    before = combing(frames_of(src)).mean()
    after = combing(frames_of(out)[:, ::2, ::2]).mean()
    assert before > 0.5 and after < 0.1, (before, after)


def cut_as_uncut(info: MediaInfo, how: Deinterlace) -> tuple[list[Segment], list[np.ndarray]]:
    """``info`` cut at every keyframe, and its frames decoded so, checked equal to one
    uncut decode: every frame once at its index and pts (those ``info`` plans), the same
    pixels. Returns the segments and the uncut frames."""
    whole = plan_segments(info, 100.0, deinterlace=how)
    cut = plan_segments(info, 0.1, deinterlace=how)
    one = [(f.frame_index, f.pts, f.image) for f in decode_segment(info.uri, whole[0])]
    pieces = [(f.frame_index, f.pts, f.image) for s in cut for f in decode_segment(info.uri, s)]
    planned = list(enumerate(info.video.frame_pts))
    assert len(whole) == 1 and [f[:2] for f in one] == [f[:2] for f in pieces] == planned
    for a, b in zip(one, pieces, strict=True):
        np.testing.assert_array_equal(a[2], b[2])
    return cut, [f[2] for f in one]


def test_where_the_video_is_cut_never_changes_a_deinterlaced_frame(
    interlaced: dict[str, str],
) -> None:
    info = probe(interlaced["tff"])
    how = deinterlace_for(info.video, "auto")
    assert how == Deinterlace("tff")
    cut, one = cut_as_uncut(info, how)
    assert [s.start for s in cut] == [0, 4, 8, 12]
    # The neighbours matter: without them the frames at a cut come out otherwise.
    blind = [replace(s, deinterlace=how) for s in cut]
    edges = [f for s in blind for f in decode_segment(info.uri, s) if f.frame_index in (3, 4)]
    assert all(not np.array_equal(f.image, one[f.frame_index]) for f in edges)


@pytest.mark.parametrize("parity", ["tff", "bff"])
def test_double_makes_a_frame_per_field(
    interlaced: dict[str, str], parity: str, tmp_path: Path
) -> None:
    """--deinterlace double: 25i in, 50p out: each source frame's two fields as two whole
    frames, the second halfway to the next frame; chunks of 3 frames, so that a source
    frame's two fields fall in two chunks; certified at twice the frames."""
    src = interlaced[parity]
    out = str(tmp_path / "out.mkv")
    result = upscale_locally(
        src, out, NearestUpscaler(2), deinterlace="double", segment_s=0.1, chunk_frames=3
    )
    decoded = decode_video(out)
    assert decoded.indices == [i // 2 for i in range(32)]  # each field shows its frame
    assert decoded.time_base == Fraction(1, 1000) and decoded.pts == list(range(0, 640, 20))
    assert probe(out).video.real_rate == 50
    checks = result.report["integrity"]
    assert checks["ok"] and checks["frames"] == {"source": 32, "output": 32, "ok": True}
    assert checks["field_order"] == {
        "source": parity, "output": "progressive", "deinterlaced": parity, "ivtc": False,
        "field_rate": True, "ok": True,
    }  # fmt: skip
    assert [bytes(p) for p in stream_packets(out, "audio")] == [
        bytes(p) for p in stream_packets(src, "audio")
    ]
    frames = frames_of(out)[:, ::2, ::2]
    assert combing(frames).mean() < 0.1
    # The fields were taken half a frame apart: a frame's two come out as two pictures.
    assert all(not np.array_equal(frames[i], frames[i + 1]) for i in range(0, 32, 2))


def test_where_the_video_is_cut_never_changes_a_frame_of_a_field(
    interlaced: dict[str, str],
) -> None:
    info = field_rate(probe(interlaced["bff"]))
    how = deinterlace_for(probe(interlaced["bff"]).video, "double")
    assert how == Deinterlace("bff", double=True) and info.video.frame_count == 32
    cut, _ = cut_as_uncut(info, how)
    assert [s.start for s in cut] == [0, 8, 16, 24]


def test_woven_fields_in_a_stream_that_says_progressive_are_found(tmp_path: Path) -> None:
    """auto: idet on the first frames finds woven fields the stream does not flag, and the
    job deinterlaces them; progressive frames of the same size it leaves as they are; it
    does not judge frames too small for its statistics."""
    from rayapp.video._idet import detected_field_order

    clip = {"frames": 16, "fps": 25, "gop": 4, "width": 160, "height": 120}
    woven = make_test_video(
        str(tmp_path / "woven.mp4"), interlaced="bff", field_flags=False, **clip
    )
    plain = make_test_video(str(tmp_path / "plain.mp4"), texture=True, **clip)
    tiny = make_test_video(str(tmp_path / "tiny.mp4"), frames=16)
    assert [probe(v).video.field_order for v in (woven, plain)] == ["progressive"] * 2
    assert [detected_field_order(probe(v)) for v in (woven, plain, tiny)] == ["bff", None, None]
    out = str(tmp_path / "out.mp4")
    result = upscale_locally(woven, out, NearestUpscaler(2), segment_s=0.1)
    assert result.report["integrity"]["field_order"]["deinterlaced"] == "bff"
    assert (
        combing(frames_of(woven)).mean() > 0.5 > 0.1 > combing(frames_of(out)[:, ::2, ::2]).mean()
    )
    check_output(woven, out)


def test_deinterlace_off_upscales_the_woven_fields_as_they_are(
    interlaced: dict[str, str], tmp_path: Path
) -> None:
    out = str(tmp_path / "out.mkv")
    result = upscale_locally(interlaced["bff"], out, NearestUpscaler(2), deinterlace="off")
    assert result.report["integrity"]["field_order"] == {
        "source": "bff", "output": "progressive", "deinterlaced": None, "ivtc": False,
        "field_rate": False, "ok": True,
    }  # fmt: skip
    assert combing(frames_of(out)[:, ::2, ::2]).mean() > 0.5


def test_telecined_film_is_restored_to_its_film_frames_at_film_rate(
    telecined: str, tmp_path: Path
) -> None:
    """--ivtc: the 20 frames at 30 a second become the 16 film frames at 24, each once,
    whole (no comb, far closer to the film than bwdif's interpolation of every frame),
    evenly spaced, the audio as it was; cut into chunks of 4 film frames; certified
    against the film-rate timeline."""
    out = str(tmp_path / "out.mp4")
    result = upscale_locally(
        telecined, out, NearestUpscaler(2), ivtc=True, segment_s=0.1, chunk_frames=4
    )
    decoded = decode_video(out)
    assert decoded.indices == list(range(16))
    assert [p * decoded.time_base for p in decoded.pts] == [Fraction(k, 24) for k in range(16)]
    output = probe(out).video
    assert (output.real_rate, output.duration_s) == (24, probe(telecined).video.duration_s)
    assert [bytes(p) for p in stream_packets(out, "audio")] == [
        bytes(p) for p in stream_packets(telecined, "audio")
    ]
    report = result.report
    assert report["integrity"]["ok"] and report["speed"]["chunks"] == 4
    assert report["integrity"]["frames"] == {"source": 16, "output": 16, "ok": True}
    assert report["integrity"]["field_order"] == {
        "source": "tff", "output": "progressive", "deinterlaced": "tff", "ivtc": True,
        "field_rate": False, "ok": True,
    }  # fmt: skip
    restored = frames_of(out)[:, ::2, ::2]
    bwdif_out = str(tmp_path / "bwdif.mp4")
    upscale_locally(telecined, bwdif_out, NearestUpscaler(2), segment_s=0.1)
    interpolated = frames_of(bwdif_out)[:, ::2, ::2]
    films = [
        np.stack([film_frame(i, 96, 128) for i in shown]) for shown in (range(16), FIELD_MATCHED)
    ]
    assert psnr(restored, films[0]).min() > 38 > 32 > psnr(interpolated, films[1]).mean()
    source_combing = combing(frames_of(telecined)).mean()
    assert source_combing > 0.3 and combing(restored).mean() < 0.001 < combing(interpolated).mean()


def test_where_a_telecined_video_is_cut_never_changes_a_film_frame(telecined: str) -> None:
    info = probe(telecined)
    how = deinterlace_for(info.video, "off", ivtc=True)  # --ivtc whatever it says
    assert how == Deinterlace("tff", ivtc=True)
    film = film_frames(info, how)
    # Of each five, the third (B top, C bottom) repeats B once its fields are matched.
    assert film.kept == tuple(i for i in range(20) if i % 5 != 2)
    at_film_rate = film_rate(info, film)
    assert at_film_rate.video.frame_count == 16
    cut, _ = cut_as_uncut(at_film_rate, replace(how, film=film))
    assert [s.start for s in cut] == [0, 4, 8, 12]
    assert cut[1].deinterlace.before == info.video.frame_pts[3:5]  # fieldmatch, bwdif


@pytest.mark.parametrize(("codec", "ext"), [("hevc", ".mkv"), ("av1", ".mp4"), ("h264", ".mov")])
def test_hdr10_keeps_its_metadata_depth_and_tags(
    hdr10: str, codec: str, ext: str, tmp_path: Path
) -> None:
    out = str(tmp_path / f"out{ext}")
    result = upscale_locally(hdr10, out, NearestUpscaler(2), codec=codec, chunk_frames=4)
    assert result.chunks_total == 2
    check_output(hdr10, out)
    video = probe(out).video
    assert (video.bit_depth, video.colour.transfer, video.colour.primaries) == (10, 16, 9)
    assert video.colour.matrix == 9
    assert video.hdr is not None and video.hdr.light == HDR10_LIGHT
    if codec == "av1":  # AV1 stores chromaticity in 1/65536: within one SEI unit
        assert all(abs(a - b) <= 1 for a, b in zip(video.hdr.mastering, MASTERING, strict=True))
    else:
        assert video.hdr.mastering == MASTERING
    assert result.report["integrity"]["hdr"]["ok"]


def test_hlg_stays_hlg_and_ten_bit(tmp_path: Path) -> None:
    src = make_test_video(
        str(tmp_path / "hlg.mkv"), frames=6, codec="libx265", pix_fmt="yuv420p10le", colour="hlg"
    )
    out = str(tmp_path / "out.mp4")
    result = upscale_locally(src, out, NearestUpscaler(2))
    check_output(src, out)
    video = probe(out).video
    assert (video.bit_depth, video.colour.transfer, video.hdr) == (10, 18, None)
    assert result.report["integrity"]["ok"]


def test_anamorphic_timecoded_source_keeps_its_shape_and_timecode(tmp_path: Path) -> None:
    """PAL 16:9 anamorphic (SAR 64:45) with timecode 10:00:00:00, in MOV and in Matroska."""
    src = make_test_video(
        str(tmp_path / "in.mov"),
        frames=8,
        gop=4,
        timecode="10:00:00:00",
        sample_aspect_ratio=Fraction(64, 45),
    )
    for ext in (".mov", ".mkv"):
        out = str(tmp_path / f"out{ext}")
        result = upscale_locally(src, out, NearestUpscaler(2), chunk_frames=4)
        check_output(src, out)
        video = probe(out).video
        assert (video.sample_aspect_ratio, video.timecode) == (Fraction(64, 45), "10:00:00:00")
        checks = result.report["integrity"]
        assert checks["sample_aspect_ratio"] == {"source": "64:45", "output": "64:45", "ok": True}
        assert checks["timecode"]["ok"]
    with av.open(str(tmp_path / "out.mov")) as container:  # a timecode track, as in the source
        assert [s.metadata.get("timecode") for s in container.streams if s.type == "data"] == [
            "10:00:00:00"
        ]
    with pytest.raises(ContainerError, match="not square .* write .mp4 or .mov"):
        upscale_locally(src, str(tmp_path / "av1.mkv"), NearestUpscaler(2), codec="av1")


def captions_shown(uri: str) -> dict[int, bytes]:
    """Each frame's caption bytes as FFmpeg's decoder reads them, by the frame's index."""
    with av.open(uri) as container:
        return {
            read_frame_index(f.to_ndarray(format="rgb24")): b"".join(
                bytes(d) for d in f.side_data if d.type.name == "A53_CC"
            )
            for f in container.decode(video=0)
        }


@pytest.fixture(scope="module")
def captioned(tmp_path_factory: pytest.TempPathFactory) -> str:
    """12 frames, each with its own CEA-608 caption bytes in its H.264 access unit."""
    path = tmp_path_factory.mktemp("captions") / "in.mp4"
    return make_test_video(str(path), frames=12, gop=4, captions=True)


@pytest.mark.parametrize(("codec", "ext"), [("h264", ".mkv"), ("hevc", ".mkv"), ("av1", ".mp4")])
def test_captions_in_the_video_stream_are_carried_frame_for_frame(
    captioned: str, codec: str, ext: str, tmp_path: Path
) -> None:
    """Into H.264 and HEVC as an SEI, into AV1 as a T.35 metadata OBU: FFmpeg's decoders
    read each frame's own bytes back, across three chunks."""
    assert probe(captioned).video.caption_packets == 12
    assert captions_shown(captioned) == {i: frame_caption(i) for i in range(12)}
    out = str(tmp_path / f"out{ext}")
    result = upscale_locally(
        captioned, out, NearestUpscaler(2), codec=codec, chunk_frames=4, segment_s=0.1
    )
    assert result.chunks_total == 3 and result.report["integrity"]["ok"]
    assert decode_video(out).indices == list(range(12))
    assert result.report["integrity"]["captions"] == {"source": 12, "output": 12, "ok": True}
    assert captions_shown(out) == {i: frame_caption(i) for i in range(12)}


def test_captions_into_a_codec_that_cannot_carry_them_are_refused(
    captioned: str, tmp_path: Path
) -> None:
    with pytest.raises(UnsupportedCodecError, match="captions .* choose --codec h264, hevc or av1"):
        upscale_locally(captioned, str(tmp_path / "vp9.mkv"), NearestUpscaler(2), codec="vp9")
    with pytest.raises(UnsupportedCodecError, match="--ivtc drops a frame in five"):
        upscale_locally(captioned, str(tmp_path / "film.mkv"), NearestUpscaler(2), ivtc=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_an_mpeg_ts_capture_keeps_its_aac_audio(tmp_path: Path, ext: str) -> None:
    """MPEG-TS carries AAC behind ADTS headers, which MP4 and Matroska leave out: the same
    audio, certified identical (a .ts capture failed its certificate before)."""
    src = make_test_video(str(tmp_path / "capture.ts"), frames=12, gop=6)
    with av.open(src) as c:
        assert bytes(next(p for p in c.demux(audio=0) if p.size))[:2] == b"\xff\xf1"  # ADTS
    out = str(tmp_path / f"out{ext}")
    result = upscale_locally(src, out, NearestUpscaler(2))
    assert result.report["integrity"]["ok"]
    assert result.report["integrity"]["audio"]["streams"] == [{"items": 9, "identical": True}]
    with av.open(src) as a, av.open(out) as b:
        decoded = [
            np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1) for c in (a, b)
        ]
    np.testing.assert_array_equal(*decoded)


def test_chapters_are_kept(tmp_path: Path) -> None:
    src = make_test_video(
        str(tmp_path / "in.mkv"), frames=12, chapters=[(0, 250, "Opening"), (250, 500, "Rest")]
    )
    for ext in (".mkv", ".mp4"):
        out = str(tmp_path / f"out{ext}")
        upscale_locally(src, out, NearestUpscaler(2))
        with av.open(out) as container:
            got = [
                (c["start"] * c["time_base"], c["end"] * c["time_base"], c["metadata"]["title"])
                for c in container.chapters()
            ]
        assert got == [(0, Fraction(1, 4), "Opening"), (Fraction(1, 4), Fraction(1, 2), "Rest")]


def test_hdr10_refuses_an_encoder_that_would_drop_it(hdr10: str, tmp_path: Path) -> None:
    """NVENC cannot be given the metadata from here; this VP9 build encodes 8 bits only."""
    with pytest.raises(UnsupportedCodecError, match="which hevc_nvenc cannot be given"):
        upscale_locally(hdr10, str(tmp_path / "out.mkv"), NearestUpscaler(2), codec="hevc_nvenc")
    r = rayapp("video", hdr10, str(tmp_path / "cli.mkv"), "--codec", "vp9", "--no-progress")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(
        "rayapp: error: The source is HDR10 (PQ) video; libvpx-vp9 encodes it as yuv420p (8-bit)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no output, no work folder
