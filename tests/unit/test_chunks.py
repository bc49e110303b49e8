"""Chunks cut where the picture cuts (rayapp.video._chunks), the frames around them a stage
reading neighbours gets, and the segments that decode them (``job_segments``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayapp.errors import ConfigError
from rayapp.pipeline.stages import decode_runs, segment_rows
from rayapp.testing import make_test_video, read_frame_index
from rayapp.video import Run, probe
from rayapp.video._chunks import cut_chunks, with_reach
from rayapp.video._segments import job_segments


def sizes(cut) -> list[int]:  # noqa: ANN001 - a Cut
    return [b - a for a, b in cut.bounds]


def test_every_scene_is_a_chunk_when_it_fits() -> None:
    """Scenes up to the chunk's most frames are one chunk each, however many lanes idle."""
    for lanes in (1, 2, 16):
        cut = cut_chunks(100, (0, 30, 70), chunk_frames=None, scene_frames=240, lanes=lanes)
        assert cut.bounds == ((0, 30), (30, 70), (70, 100))
        assert (cut.scenes, cut.most_frames, cut.seams_inside) == ((0, 30, 70), 240, 0)
        assert cut.describe() == "3 scenes, 3 chunks"


def test_chunk_frames_splits_each_scene_into_the_fewest_equal_parts() -> None:
    cut = cut_chunks(100, (0, 30, 70), chunk_frames=16, scene_frames=240)
    assert cut.bounds == ((0, 15), (15, 30), (30, 43), (43, 56), (56, 70), (70, 85), (85, 100))
    assert cut.seams_inside == 4
    assert cut.describe() == "3 scenes, 7 chunks, 4 seams inside scenes (--chunk-frames 16)"
    with pytest.raises(ConfigError, match="chunk_frames >= 1"):
        cut_chunks(100, (0,), chunk_frames=0, scene_frames=240)


def test_a_long_scene_is_split_as_far_as_the_lanes_need() -> None:
    """A 20 s scene (480 frames, 10 s a chunk at most) for 1, 4 and 16 lanes (4 GPU
    replicas with 4 encoders each): 2 parts, then one part per lane."""
    by_lanes = {
        lanes: sizes(cut_chunks(480, (0,), chunk_frames=None, scene_frames=240, lanes=lanes))
        for lanes in (1, 4, 16)
    }
    assert by_lanes == {1: [240, 240], 4: [120] * 4, 16: [30] * 16}
    # Beside a short scene, the long one only is split; the short one stays whole.
    cut = cut_chunks(580, (0, 100), chunk_frames=None, scene_frames=240, lanes=4)
    assert sizes(cut) == [100] + [48] * 10
    assert cut.describe() == (
        "2 scenes, 11 chunks, 9 seams inside scenes (scenes over 240 frames split for 4 "
        "lanes, parts of at most 100)"
    )
    # A long video: the tail is a small share, every long scene in parts of 10 s.
    long = cut_chunks(8 * 4 * 240, (0,), chunk_frames=None, scene_frames=240, lanes=4)
    assert set(sizes(long)) == {240}


def test_a_chunk_gets_the_frames_around_it_inside_its_scene_only() -> None:
    cut = cut_chunks(60, (0, 20), chunk_frames=10, scene_frames=240)
    assert with_reach(cut, 1) == [
        (0, 10, 0, 1), (10, 20, 1, 0),  # the video's first frame; a scene cut at 20
        (20, 30, 0, 1), (30, 40, 1, 1), (40, 50, 1, 1), (50, 60, 1, 0),
    ]  # fmt: skip
    assert with_reach(cut, 0) == [(a, b, 0, 0) for a, b in cut.bounds]


@pytest.fixture(scope="module")
def gop12(tmp_path_factory: pytest.TempPathFactory) -> str:
    """48 frames, a keyframe every 12."""
    path = tmp_path_factory.mktemp("chunks") / "gop12.mkv"
    return make_test_video(str(path), frames=48, gop=12, audio=False)


def test_segments_seek_to_the_keyframe_before_their_first_frame(gop12: str) -> None:
    """Chunks of 20 with a frame around each: a segment joins the chunks that seek to its
    keyframe, or until it is 0.5 s long; the next seeks to the keyframe before its first
    frame, which may lie between keyframes."""
    info = probe(gop12)
    reads = [(0, 21), (19, 41), (39, 48)]
    segments, members = job_segments(info, reads, 0.5)
    assert [(s.start, s.stop) for s in segments] == [(0, 21), (19, 41), (39, 48)]
    assert members == [0, 1, 2]
    keys = info.video.keyframes
    assert [s.seek_pts for s in segments] == [None, keys[1].pts, keys[3].pts]
    assert segments[1].frame_pts == info.video.frame_pts[19:41]
    # Chunks that seek to one keyframe share a segment, however short.
    segments, members = job_segments(info, [(0, 6), (5, 13), (12, 20)], 0.01)
    assert ([(s.start, s.stop) for s in segments], members) == ([(0, 13), (12, 20)], [0, 0, 1])
    # A target longer than the clip: one segment, decoded from the start.
    segments, members = job_segments(info, reads, 60)
    assert ([(s.start, s.stop) for s in segments], members) == ([(0, 48)], [0, 0, 0])


def test_runs_are_decoded_with_the_frames_around_them(gop12: str) -> None:
    """Every run row holds its frames and the ones around it, each exactly the frame it
    names (the pattern shows its index), though runs share them and a segment starts
    between keyframes."""
    info = probe(gop12)
    chunks = [(0, 20, 0, 1), (20, 40, 1, 1), (40, 48, 1, 0)]
    reads = [(a - b, c + d) for a, c, b, d in chunks]
    segments, members = job_segments(info, reads, 0.5)
    runs = [Run(m, *c) for m, c in zip(members, chunks, strict=True)]
    rows = [
        row
        for _, segment_row in segment_rows(segments, runs)
        for row in decode_runs(segment_row, uri=gop12, depth=8)
    ]
    assert [(r["first_frame_index"], r["before"], r["after"]) for r in rows] == [
        (0, 0, 1), (20, 1, 1), (40, 1, 0),
    ]  # fmt: skip
    for row, (start, stop, before, after) in zip(rows, chunks, strict=True):
        shown = [read_frame_index(image) for image in row["frames"]]
        assert shown == list(range(start - before, stop + after))
        assert list(row["pts"]) == list(info.video.frame_pts[start - before : stop + after])


def test_a_field_rate_segment_holds_whole_source_frames(tmp_path: Path) -> None:
    """At field rate a source frame is two frames planned: a segment never starts at its
    second field's frame."""
    from rayapp.video import Deinterlace, field_rate

    src = make_test_video(str(tmp_path / "i.mkv"), frames=12, gop=4, interlaced="tff")
    info = field_rate(probe(src))
    how = Deinterlace("tff", double=True)
    segments, _ = job_segments(info, [(0, 9), (9, 24)], 0.01, deinterlace=how)
    assert [(s.start, s.stop) for s in segments] == [(0, 10), (8, 24)]


def test_an_interpolated_plan_decodes_each_source_frame_once_with_the_next(
    gop12: str, tmp_path: Path
) -> None:
    """--interpolate 3, chunks of at most 30 frames planned (10 source frames): every chunk
    starts at a source frame and reads the one after it; a run row holds its source frames
    (the pattern shows their index) at their planned pts, and its chunk's whole timeline."""
    from rayapp.video import EncodeSettings, multiplied_rate, plan_job

    plan = plan_job(
        gop12, str(tmp_path / "out.mkv"), EncodeSettings(), lambda info: (48, 64),
        segment_s=0.5, chunk_frames=30, interpolate=3, scenes=False,
    )  # fmt: skip
    source = probe(gop12).video
    assert plan.info == multiplied_rate(probe(gop12), 3) and plan.interpolate == 3
    # 48 source frames in the fewest equal parts of at most 10: 9, 10, 9, 10 and 10.
    assert [(r.start, r.stop, r.before, r.after) for r in plan.runs] == [
        (0, 27, 0, 3), (27, 57, 0, 3), (57, 84, 0, 3), (84, 114, 0, 3), (114, 144, 0, 0),
    ]  # fmt: skip
    assert all(s.start % 3 == 0 and s.stop % 3 == 0 for s in plan.segments)
    assert [plan.is_new(t) for t in range(4)] == [False, True, True, False]
    rows = [
        row
        for _, segment_row in segment_rows(plan.segments, plan.runs)
        for row in decode_runs(segment_row, uri=gop12, depth=8)
    ]
    assert [(r["first_frame_index"], r["before"], r["after"]) for r in rows] == [
        (0, 0, 1), (27, 0, 1), (57, 0, 1), (84, 0, 1), (114, 0, 0),
    ]  # fmt: skip
    for row, run in zip(rows, plan.runs, strict=True):
        first, stop = run.start // 3, run.stop // 3 + run.after // 3
        assert [read_frame_index(image) for image in row["frames"]] == list(range(first, stop))
        assert list(row["pts"]) == [3 * p for p in source.frame_pts[first:stop]]
        assert list(row["timeline"]) == list(plan.info.video.frame_pts[run.start : run.stop])
    with pytest.raises(ConfigError, match="--deinterlace double or --ivtc"):
        plan_job(
            gop12, str(tmp_path / "out.mkv"), EncodeSettings(), lambda info: (48, 64),
            segment_s=0.5, chunk_frames=None, interpolate=2, deinterlace="double",
        )  # fmt: skip


def test_a_chunk_holds_ten_seconds_or_a_gibibyte_of_frames_at_most() -> None:
    from rayapp.video._chunks import scene_frames

    assert scene_frames(25.0, 720 * 576 * 3) == 250  # SD: ten seconds, 0.3 GiB
    assert scene_frames(24.0, 1920 * 1080 * 3) == (1 << 30) // (1920 * 1080 * 3) == 172
    assert scene_frames(30.0, 3840 * 2160 * 6) == 21  # 16-bit UHD
