"""decode_segment(): every frame exactly once, with its global index, across segment cuts."""

from __future__ import annotations

import av
import fsspec
import numpy as np
import pytest

from rayapp.errors import ConfigError
from rayapp.testing import read_frame_index
from rayapp.video import Yuv420, probe, to_rgb
from rayapp.video._decode import decode_segment
from rayapp.video._segments import plan_segments


def _decode_all(uri: str, target_s: float, depth: int = 8) -> list[tuple[int, int, int]]:
    """(frame_index, pts, index read from the pixels) over all segments, in yield order."""
    info = probe(uri)
    return [
        (f.frame_index, f.pts, read_frame_index(f.image))
        for segment in plan_segments(info, target_s)
        for f in decode_segment(uri, segment, depth=depth)
    ]


@pytest.mark.parametrize("fixture", ["bframes_mkv", "vfr_mp4", "open_gop_mkv"])
def test_segments_decode_every_frame_once(fixture: str, request: pytest.FixtureRequest) -> None:
    uri = request.getfixturevalue(fixture)
    info = probe(uri)
    count = info.video.frame_count
    assert len(plan_segments(info, 0.3)) >= 3
    frames = _decode_all(uri, 0.3)
    assert [i for i, _, _ in frames] == list(range(count))
    assert [p for _, p, _ in frames] == list(info.video.frame_pts)
    assert [shown for _, _, shown in frames] == list(range(count))


def test_a_middle_segment_alone_yields_exactly_its_frames(open_gop_mkv: str) -> None:
    segments = plan_segments(probe(open_gop_mkv), 0.3)
    middle = segments[1]
    frames = list(decode_segment(open_gop_mkv, middle))
    assert [f.frame_index for f in frames] == list(range(middle.start, middle.stop))
    assert [read_frame_index(f.image) for f in frames] == list(range(middle.start, middle.stop))
    assert {(f.image.shape, f.image.dtype) for f in frames} == {((48, 64, 3), np.dtype(np.uint8))}


def test_sixteen_bit_path_for_ten_bit_source(ten_bit_mkv: str) -> None:
    segment = plan_segments(probe(ten_bit_mkv), 10)[0]
    frames = list(decode_segment(ten_bit_mkv, segment, depth=16))
    assert [f.frame_index for f in frames] == list(range(24))
    assert {(f.image.shape, f.image.dtype) for f in frames} == {((48, 64, 3), np.dtype(np.uint16))}
    assert [read_frame_index(f.image) for f in frames] == list(range(24))
    # A 10-bit source uses values an 8-bit scale cannot express.
    assert np.any(frames[0].image % 257 != 0)


def _matrix_rgb(planes: np.ndarray, matrix: Yuv420) -> np.ndarray:
    """The RGB (0-255, unrounded) that ``matrix`` gives 8-bit 4:2:0 planes, each pixel
    with the chroma sample it sits in."""
    height = planes.shape[0] * 2 // 3
    luma = planes[:height].astype(float)
    chroma = planes[height:].reshape(2, height // 2, -1).astype(float) - 128
    cb, cr = (c.repeat(2, 0).repeat(2, 1) for c in chroma)
    if matrix.full_range:
        y, cb, cr = luma, cb, cr
    else:
        y, cb, cr = (luma - 16) * 255 / 219, cb * 255 / 224, cr * 255 / 224
    kr, kb = matrix.weights
    r, b = y + 2 * (1 - kr) * cr, y + 2 * (1 - kb) * cb
    return np.stack([r, (y - kr * r - kb * b) / (1 - kr - kb), b], axis=-1)


# Untagged (BT.601, as swscale), BT.709 tv, BT.601 pc.
@pytest.mark.parametrize("matrix", [Yuv420(2, False), Yuv420(1, False), Yuv420(5, True)])
def test_a_decoded_frame_is_its_matrix_to_the_nearest_level(matrix: Yuv420) -> None:
    """Every value of a coloured frame is the one its matrix gives, rounded to the nearest
    level (swscale's quick conversion gives coloured pixels up to 3 levels less)."""
    rng = np.random.default_rng(7)
    low, high = (0, 256) if matrix.full_range else (16, 236)
    planes = np.concatenate(
        [rng.integers(low, high, (32, 48)), rng.integers(64, 192, (16, 48))]
    ).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(planes, "yuv420p")
    frame.colorspace, frame.color_range = matrix.matrix, 2 if matrix.full_range else 1
    rgb = to_rgb(frame)
    assert (rgb.shape, rgb.dtype) == ((32, 48, 3), np.dtype(np.uint8))
    error = rgb - np.clip(_matrix_rgb(planes, matrix), 0, 255)
    assert np.abs(error).max() < 0.52
    assert abs(error.mean()) < 0.01


def test_decode_from_memory_uri(bframes_mkv: str) -> None:
    fs = fsspec.filesystem("memory")
    with open(bframes_mkv, "rb") as f:
        fs.pipe("/decode-test/in.mkv", f.read())
    try:
        frames = _decode_all("memory://decode-test/in.mkv", 0.5)
    finally:
        fs.rm("/decode-test", recursive=True)
    assert [(i, shown) for i, _, shown in frames] == [(i, i) for i in range(48)]


def test_decode_rejects_unknown_depth(bframes_mkv: str) -> None:
    segment = plan_segments(probe(bframes_mkv), 1)[0]
    with pytest.raises(ConfigError, match="depth 8 or 16"):
        next(decode_segment(bframes_mkv, segment, depth=10))


def test_encoded_frames_skip_what_no_frame_refers_to(tmp_path, caplog) -> None:  # noqa: ANN001
    """decode_encoded_frames (the certificate's samples, decoded back from a chunk): the
    frames asked for equal a whole decode's, pixel for pixel, while the H.264 B-frames no
    frame refers to, and not asked for, are not decoded."""
    import logging

    from rayapp.testing import make_test_video
    from rayapp.video import decode_encoded_frames, decode_frames_at

    uri = make_test_video(
        str(tmp_path / "chunk.mp4"), frames=48, width=64, height=48, gop=48, bframes=3,
        texture=True, audio=False,
    )  # fmt: skip
    info = probe(uri)
    asked = [0, 5, 6, 7, 29, 47]  # the first, B-frames, the last (a seam pair's side)
    with caplog.at_level(logging.DEBUG, logger="rayapp.video._decode"):
        got = decode_encoded_frames(uri, info.video.frame_pts, asked)
    whole = decode_frames_at(info, asked)
    assert sorted(got) == asked
    for i in asked:
        assert np.array_equal(got[i], whole[i]), i
        assert read_frame_index(got[i]) == i
    [line] = [r.getMessage() for r in caplog.records if "frames decoded" in r.getMessage()]
    decoded = int(line.split(": ")[-1].split()[0])
    assert len(asked) < decoded < 48, line
