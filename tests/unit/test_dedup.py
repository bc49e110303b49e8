"""Skipping repeated frames: exact repeats give the output of a job that runs every frame,
bit for bit, across chunk boundaries and resumes; near repeats (lossy sources) stay within
45 dB of it; a small local change is never taken for a repeat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rayapp.config import DEFAULT_DEDUP_THRESHOLD, VideoJobConfig
from rayapp.pipeline import run_video_job
from rayapp.pipeline.stages._dedup import block_difference, network_sources
from rayapp.testing import NearestUpscaler, held_drawings, make_test_video
from rayapp.testing.metrics import psnr

FRAMES, HOLDS, CHUNK = 30, (2, 3), 6


def frames_of(uri: str) -> np.ndarray:
    import av

    from rayapp.video import to_rgb

    with av.open(uri) as container:
        return np.stack([to_rgb(f) for f in container.decode(video=0)])


def repeats(drawings: list[int], chunk: int) -> int:
    """Frames that show the drawing of the frame before, in the same chunk."""
    return sum(1 for j in range(1, len(drawings)) if drawings[j] == drawings[j - 1] and j % chunk)


def job(src: str, out: Path, **fields: object) -> VideoJobConfig:
    # One segment, chunks of 6: drawings held 2 and 3 frames run across chunk boundaries.
    return VideoJobConfig(
        input=src, output=str(out), segment_s=60, chunk_frames=CHUNK, crf=0, **fields
    )


@pytest.fixture(scope="module")
def lossless(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("held") / "held.mkv"
    return make_test_video(str(path), frames=FRAMES, holds=HOLDS, crf=0, gop=30, texture=True)


def test_block_difference_sees_a_small_local_change_and_not_noise() -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    noise = np.clip(frame + rng.integers(-2, 3, frame.shape), 0, 255).astype(np.uint8)
    blink = frame.copy()
    blink[40:44, 60:64] = np.clip(blink[40:44, 60:64].astype(int) + 80, 0, 255)  # 4x4 px
    assert block_difference(frame, frame) == 0.0
    assert block_difference(frame, noise) < DEFAULT_DEDUP_THRESHOLD
    assert block_difference(frame, blink) > DEFAULT_DEDUP_THRESHOLD  # a partial edge block too
    assert network_sources(np.stack([frame, noise, blink, blink]), DEFAULT_DEDUP_THRESHOLD) == [
        0,
        0,
        2,
        2,
    ]
    assert network_sources(np.stack([frame, noise, blink]), None) == [0, 1, 2]
    assert network_sources(np.stack([frame, frame, noise]), 0.0) == [0, 0, 2]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_block_difference_is_the_largest_block_mean_of_the_absolute_difference(dtype) -> None:
    """Against the definition, in float64 block by block, on a frame with partial blocks at
    its right and bottom edges and differences of either sign."""
    rng = np.random.default_rng(2)
    top = np.iinfo(dtype).max
    a, b = (rng.integers(0, top + 1, (37, 53, 3), dtype=dtype) for _ in range(2))
    a[32:, 48:] = top  # the corner block (5x5): the largest difference
    b[32:, 48:] = 0
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(axis=2) / (top / 255)
    corners = [(i, j) for i in range(0, 37, 16) for j in range(0, 53, 16)]
    blocks = [diff[i : i + 16, j : j + 16].mean() for i, j in corners]
    assert block_difference(a, b) == pytest.approx(max(blocks), rel=1e-12)
    assert block_difference(a, b) == pytest.approx(255.0, rel=1e-12)
    assert block_difference(b, a) == block_difference(a, b)


def test_near_repeats_are_compared_with_the_last_frame_upscaled() -> None:
    """A slow drift of 1 level a frame never adds up to a stale frame."""
    base = np.full((32, 32, 3), 100, np.uint8)
    drift = np.stack([base + k for k in range(8)])
    assert network_sources(drift, 2.5) == [0, 0, 0, 3, 3, 3, 6, 6]


@pytest.mark.parametrize("upscaler", [None, NearestUpscaler(2)], ids=["real-model", "nearest"])
def test_exact_repeats_skip_the_network_and_change_no_pixel(
    lossless: str, tmp_path: Path, upscaler: NearestUpscaler | None
) -> None:
    options = {"upscale": {"outscale": 2}} if upscaler is None else {}
    every = run_video_job(
        job(lossless, tmp_path / "every.mkv", dedup=False, **options),
        runner="local",
        upscaler=upscaler,
        progress=(),
    )
    events: list = []
    skipping = run_video_job(
        job(lossless, tmp_path / "skip.mkv", dedup_threshold=0, **options),
        runner="local",
        upscaler=upscaler,
        progress=[events.append],
    )
    expected = repeats(held_drawings(FRAMES, HOLDS), CHUNK)
    assert (every.frames_skipped, skipping.frames_skipped) == (0, expected)
    assert expected == 15  # 18 repeats, 3 of them (frames 6, 18, 24) first in their chunk
    assert events[-1].frames_skipped == expected
    assert f"{expected} repeats skipped" in events[-1].line()
    np.testing.assert_array_equal(
        frames_of(str(tmp_path / "skip.mkv")), frames_of(every.output_uri)
    )


def test_a_resumed_job_makes_the_same_output_and_count(lossless: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    first = run_video_job(
        job(lossless, tmp_path / "a.mkv", dedup_threshold=0, work=str(work), keep_work=True),
        runner="local",
        upscaler=NearestUpscaler(2),
        progress=(),
    )
    (folder,) = work.iterdir()
    for name in ("chunk-000000006.mp4", "chunk-000000018.mp4.json"):  # two chunks undone
        (folder / name).unlink()
    again = run_video_job(
        job(lossless, tmp_path / "b.mkv", dedup_threshold=0, work=str(work)),
        runner="local",
        upscaler=NearestUpscaler(2),
        progress=(),
    )
    assert (again.chunks_reused, again.chunks_computed) == (3, 2)
    assert again.frames_skipped == first.frames_skipped == 15
    np.testing.assert_array_equal(frames_of(again.output_uri), frames_of(first.output_uri))


@pytest.mark.slow
def test_near_repeats_of_a_lossy_source_stay_within_45_db(tmp_path: Path) -> None:
    """crf 18: most held frames decode a little different from the frame before; the
    default threshold still takes them for repeats, and the output stays >= 45 dB of the
    output that runs every frame (both written losslessly, so only skipping differs)."""
    src = make_test_video(
        str(tmp_path / "lossy.mp4"), frames=FRAMES, holds=HOLDS, crf=18, texture=True
    )
    decoded = frames_of(src)
    drawings = held_drawings(FRAMES, HOLDS)
    held = [j for j in range(1, FRAMES) if drawings[j] == drawings[j - 1]]
    assert sum(not np.array_equal(decoded[j], decoded[j - 1]) for j in held) >= 3  # not exact
    every = run_video_job(job(src, tmp_path / "every.mkv", dedup=False), runner="local")
    skipping = run_video_job(job(src, tmp_path / "skip.mkv"), runner="local")
    exact_only = run_video_job(job(src, tmp_path / "exact.mkv", dedup_threshold=0), runner="local")
    expected = repeats(drawings, CHUNK)
    assert skipping.frames_skipped == expected > exact_only.frames_skipped
    assert psnr(frames_of(skipping.output_uri), frames_of(every.output_uri)) >= 45.0
