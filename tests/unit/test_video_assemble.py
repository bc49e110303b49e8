"""assemble(): frame accounting, container rules, stream copy of audio and subtitles."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rayapp.errors import ContainerError, FrameAccountingError
from rayapp.testing import (
    NearestUpscaler,
    SubtitleCue,
    decode_video,
    make_test_video,
    subtitle_cues,
)
from rayapp.video import probe
from rayapp.video._assemble import assemble, check_coverage
from rayapp.video._containers import plan_output
from rayapp.video._encode import Chunk
from tests.local_job import upscale_locally


def _chunks(*ranges: tuple[int, int]) -> list[Chunk]:
    return [Chunk(f"w/chunk-{a:09d}.mp4", a, b - a) for a, b in ranges]


def test_check_coverage_orders_contiguous_chunks() -> None:
    chunks = _chunks((24, 48), (0, 12), (12, 24))
    assert [c.first_frame_index for c in check_coverage(chunks, 48)] == [0, 12, 24]


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ([(0, 12), (24, 48)], "frames 12-23 are in no chunk"),
        ([(0, 12), (10, 48)], "frames 10-11 are in more than one chunk"),
        ([(0, 12), (12, 40)], "frames 40-47 are in no chunk"),
        ([(0, 12), (12, 50)], "chunks hold frames up to 49, but the source has only 48 frames"),
        ([(12, 48)], "frames 0-11 are in no chunk"),
    ],
)
def test_check_coverage_names_the_frames(ranges: list[tuple[int, int]], message: str) -> None:
    with pytest.raises(FrameAccountingError, match=message):
        check_coverage(_chunks(*ranges), 48)


def _work_chunks(src: str, work: Path) -> list[Chunk]:
    """Upscale ``src`` once into ``work`` and return its chunks (kept, in frame order)."""
    result = upscale_locally(
        src,
        str(work / "first.mkv"),
        NearestUpscaler(2),
        segment_s=0.5,
        chunk_frames=12,
        preset="ultrafast",
        work=str(work),
        keep_work=True,
    )
    return [c.chunk for c in result.chunks]


def test_assemble_refuses_a_chunk_with_other_frames(bframes_mkv: str, tmp_path: Path) -> None:
    chunks = _work_chunks(bframes_mkv, tmp_path)
    ranges = [(c.first_frame_index, c.frame_count) for c in chunks]
    assert ranges == [(0, 12), (12, 12), (24, 12), (36, 12)]
    # A chunk whose file holds frames 0-11 while claiming 12-23.
    shutil.copy(chunks[0].uri, chunks[1].uri)
    out = tmp_path / "out.mkv"
    with pytest.raises(FrameAccountingError, match="is no source frame between frames 12 and 23"):
        assemble(chunks, probe(bframes_mkv), str(out))
    assert not out.exists()


def test_assemble_copies_audio_and_converts_subtitles(bframes_mkv: str, tmp_path: Path) -> None:
    chunks = _work_chunks(bframes_mkv, tmp_path)
    source = probe(bframes_mkv)
    out = str(tmp_path / "out.mp4")
    result = assemble(chunks, source, out)
    assert (result.frames, result.width, result.height, result.format_name) == (48, 128, 96, "mp4")
    info = probe(out)
    assert [s.codec for s in info.subtitles] == ["mov_text"]  # SubRip does not go in MP4
    assert subtitle_cues(out) == subtitle_cues(bframes_mkv)
    assert decode_video(out).indices == list(range(48))


def test_plan_output_rejects_what_a_container_cannot_carry(bframes_mkv: str) -> None:
    info = probe(bframes_mkv)
    with pytest.raises(ContainerError, match=r"\.webm cannot carry libx264 video.*\.mkv"):
        plan_output(info, "out.webm", "libx264")
    with pytest.raises(
        ContainerError, match=r"audio stream #1 \(aac\) cannot be carried in \.webm"
    ):
        plan_output(info, "out.webm", "libvpx-vp9")
    with pytest.raises(ContainerError, match=r"expected an extension among .*but got \.avi"):
        plan_output(info, "out.avi", "libx264")
    plan = plan_output(info, "out.mkv", "libx264")
    assert (plan.format_name, plan.copy_streams, plan.convert_subtitles) == ("matroska", (1, 2), ())


def test_webm_output_converts_subrip_to_webvtt(tmp_path: Path) -> None:
    cues = [SubtitleCue(100, 300, "hello"), SubtitleCue(350, 450, "world")]
    src = make_test_video(str(tmp_path / "in.mkv"), frames=12, audio=False, subtitles=cues)
    out = str(tmp_path / "out.webm")
    result = upscale_locally(src, out, NearestUpscaler(2), codec="libvpx-vp9", preset="8")
    assert (result.frames, result.video_codec) == (12, "vp9")
    info = probe(out)
    assert (info.format_name, [s.codec for s in info.subtitles]) == ("matroska,webm", ["webvtt"])
    assert subtitle_cues(out) == [(100, 300, b"hello"), (350, 450, b"world")]
    assert decode_video(out).indices == list(range(12))


@pytest.mark.parametrize("ext", [".mp4", ".mov"])
def test_styled_subrip_cues_keep_their_styles_in_mov_text(tmp_path: Path, ext: str) -> None:
    """SubRip's italics ({\\i1}...{\\i0}, as FFmpeg gives them) come back from MP4's
    mov_text ending in a reset ({\\r}): the same styles, certified identical (such a job
    failed its certificate before); a lost style would still differ."""
    from rayapp.video import stream_cues
    from rayapp.video._readback import _styled

    cues = (SubtitleCue(0, 300, r"{\i1}italic{\i0} and plain"), SubtitleCue(400, 800, "plain"))
    src = make_test_video(str(tmp_path / "in.mkv"), frames=24, subtitles=cues)
    out = str(tmp_path / f"out{ext}")
    result = upscale_locally(src, out, NearestUpscaler(2))
    assert result.report["integrity"]["subtitles"] == {
        "streams": [{"items": 2, "identical": True}], "ok": True
    }  # fmt: skip
    assert stream_cues(out) == [[(0, 300, b"{i}italic{} and plain"), (400, 800, b"plain")]]
    assert _styled(rb"{\i1}italic{\r} and plain") != _styled(b"italic and plain")


def test_dvd_subtitles_are_copied_into_matroska_only(tmp_path: Path) -> None:
    """A DVD rip's bitmap subtitles go into .mkv as they are, each cue's bytes and times
    certified (they were refused: the container check looked for "dvd_subtitle" among
    coder names, and the certificate read a text from every cue). MP4 would stretch each
    cue to the next one, so .mp4 is refused before any work, naming .mkv."""
    import av

    from rayapp.video import stream_cues

    cues = (SubtitleCue(0, 300, "one"), SubtitleCue(500, 900, "three"))
    src = make_test_video(str(tmp_path / "rip.mkv"), frames=24, dvd_subtitles=cues)
    out = str(tmp_path / "hd.mkv")
    result = upscale_locally(src, out, NearestUpscaler(2))
    assert result.report["integrity"]["subtitles"] == {
        "streams": [{"items": 2, "identical": True}], "ok": True
    }  # fmt: skip
    assert [s.codec for s in probe(out).subtitles] == ["dvd_subtitle"]
    [got] = stream_cues(out)
    assert got == stream_cues(src)[0]
    assert [(start, end) for start, end, _ in got] == [(0, 300), (500, 900)]
    with av.open(out) as container:
        stream = container.streams.subtitles[0]
        bars = [(s.width, s.height) for p in container.demux(stream) for s in stream.decode(p)]
    assert bars == [(3, 2), (5, 2)]  # as wide as each cue's text has letters
    with pytest.raises(ContainerError, match=r"\(dvd_subtitle, not text\).*can: \.mkv$"):
        plan_output(probe(src), "out.mp4", "h264")


@pytest.mark.parametrize(("codec", "ext"), [("eia_608", ".mov"), ("ttml", ".mp4")])
def test_other_subtitle_tracks_a_container_carries_are_copied(
    bframes_mkv: str, codec: str, ext: str
) -> None:
    """Only bitmap subtitles are held to Matroska: a MOV's CEA-608 track or an MP4's TTML
    one still goes into its own container as it is."""
    from dataclasses import replace

    from rayapp.video._info import SubtitleStreamInfo

    info = probe(bframes_mkv)
    streams = tuple(
        replace(s, codec=codec) if isinstance(s, SubtitleStreamInfo) else s for s in info.streams
    )
    plan = plan_output(replace(info, streams=streams), f"out{ext}", "h264")
    assert (plan.copy_streams, plan.convert_subtitles) == ((1, 2), ())


def test_dts_audio_goes_into_matroska(bframes_mkv: str) -> None:
    """A probe names DTS "dts"; FFmpeg lists what Matroska carries by coder, "dca": both
    names count (a Blu-ray rip's DTS track was refused)."""
    from dataclasses import replace

    from rayapp.video._info import AudioStreamInfo

    info = probe(bframes_mkv)
    dts = tuple(
        replace(s, codec="dts") if isinstance(s, AudioStreamInfo) else s for s in info.streams
    )
    plan = plan_output(replace(info, streams=dts), "out.mkv", "h264")
    assert plan.copy_streams == (1, 2)
    with pytest.raises(
        ContainerError, match=r"audio stream #1 \(dts\) cannot be carried in \.webm"
    ):
        plan_output(replace(info, streams=dts), "out.webm", "vp9")
