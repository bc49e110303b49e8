"""Seamless, steady video, held against a ground truth: chunks cut where the picture cuts
step no more than one encoder pass over the same frames; --deflicker takes out what
frame-by-frame upscaling redraws, keeps the detail, never blends across a cut, and makes
the same frames however the video is cut. The clip: tests/scenes.py (three scenes of
sub-pixel pans over photographs, 160x120 -> 320x240 with the default model)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from rayapp.config import UpscaleConfig, VideoJobConfig
from rayapp.pipeline import VideoJobResult, run_video_job
from rayapp.quality import psnr
from rayapp.temporal import Motion, gradient_magnitude, motion, warping_error
from rayapp.video import to_rgb
from tests.scenes import CUTS, FRAMES, SceneClip

pytestmark = pytest.mark.slow

MOST_STEP = 0.08  # a pair's warping error above one encoder pass's, at most


@pytest.fixture(scope="module")
def jobs(scene_clip: SceneClip, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``jobs(name, **fields)``: the video job of the clip (local runner, x2), run once per
    name; -> (its result, its decoded frames)."""
    folder = tmp_path_factory.mktemp("temporal")

    @cache
    def run(name: str, **fields: Any) -> tuple[VideoJobResult, np.ndarray]:
        out = str(folder / f"{name}.mkv")
        config = VideoJobConfig(
            input=scene_clip.source, output=out, upscale=UpscaleConfig(outscale=2), **fields
        )
        return run_video_job(config, runner="local", progress=()), frames_of(out)

    return run


@pytest.fixture(scope="module")
def moves(scene_clip: SceneClip) -> dict[int, Motion]:
    """The source's motion of every pair that crosses no cut, by its first frame."""
    source = frames_of(scene_clip.source)
    return {t: motion(source[t], source[t + 1]) for t in range(FRAMES - 1) if t + 1 not in CUTS}


def frames_of(uri: str) -> np.ndarray:
    with av.open(uri) as container:
        return np.stack([to_rgb(f, 8) for f in container.decode(video=0)])


def keyframes(uri: str) -> list[int]:
    """The frames (in presentation order) whose packets are keyframes."""
    with av.open(uri) as container:
        packets = [(p.pts, p.is_keyframe) for p in container.demux(video=0) if p.size]
    order = sorted(pts for pts, _ in packets)
    return sorted(order.index(pts) for pts, key in packets if key)


def errors(frames: np.ndarray, moves: dict[int, Motion]) -> dict[int, float]:
    return {t: warping_error(frames[t], frames[t + 1], m) for t, m in moves.items()}


def test_chunks_start_at_the_cuts_and_step_no_more_than_one_pass(
    jobs: Any, moves: dict[int, Motion]
) -> None:
    """Default options: a chunk per scene, every keyframe at frame 0 or a cut, and no pair
    more than MOST_STEP above one x264 pass (one chunk, the same encoder, the same frames,
    x264 placing its own keyframes). A keyframe forced inside the scenes (chunks of 8)
    steps above it at a seam, and the certificate names that seam."""
    result, default = jobs("default")
    assert [c.chunk.first_frame_index for c in result.chunks] == [0, *CUTS]
    assert keyframes(result.output_uri) == [0, *CUTS]
    _, one_pass = jobs("one-pass", scene_cuts=False, chunk_frames=FRAMES)
    ours, theirs = errors(default, moves), errors(one_pass, moves)
    assert max(ours[t] - theirs[t] for t in moves) <= MOST_STEP
    temporal = result.report["quality"]["temporal"]
    assert temporal["seams"] == {
        "inside_scenes": 0, "at_scene_cuts": 2, "pairs": 0, "mean": None, "max": None,
        "bicubic_mean": None, "worst": None,
    }  # fmt: skip
    assert not {p["frame"] + 1 for p in temporal["per_pair"]} & set(CUTS)

    forced, twelve = jobs("chunks-of-12", chunk_frames=12)  # each scene in two of 8
    steps = {t: e - theirs[t] for t, e in errors(twelve, moves).items()}
    seams = {c.chunk.first_frame_index - 1 for c in forced.chunks} - {-1, *(c - 1 for c in CUTS)}
    assert sorted(seams) == [7, 23, 39]
    assert max(steps, key=steps.get) in seams and max(steps.values()) > MOST_STEP
    worst = forced.report["quality"]["temporal"]["seams"]["worst"]
    assert worst["first_frame_index"] - 1 in seams
    assert steps[worst["frame"]] > MOST_STEP


def test_a_rerun_finds_the_same_chunks_at_the_cuts(scene_clip: SceneClip, tmp_path: Path) -> None:
    from rayapp.testing import NearestUpscaler

    config = VideoJobConfig(
        input=scene_clip.source, output=str(tmp_path / "a.mkv"), work=str(tmp_path / "w"),
        keep_work=True,
    )  # fmt: skip
    first = run_video_job(config, runner="local", upscaler=NearestUpscaler(2), progress=())
    again = run_video_job(config, runner="local", upscaler=NearestUpscaler(2), progress=())
    assert [c.chunk.first_frame_index for c in again.chunks] == [0, *CUTS]
    assert (first.chunks_reused, again.chunks_reused) == (0, 3)


def test_deflicker_steadies_the_picture_and_keeps_its_detail(
    jobs: Any, moves: dict[int, Motion], scene_clip: SceneClip
) -> None:
    """Lossless output: the warping error's excess over the truth's at most 0.6 of the
    plain job's, mean gradient at least 0.95 of it, PSNR against the truth at most 0.3 dB
    lower (0.5 dB on the frames either side of a cut: no ghost of the other scene)."""
    _, plain = jobs("plain-lossless", crf=0)
    _, steady = jobs("deflicker-lossless", crf=0, deflicker=True)
    truth = scene_clip.truth
    floor = np.mean(list(errors(truth, moves).values()))
    excess = {
        name: np.mean(list(errors(frames, moves).values())) - floor
        for name, frames in (("plain", plain), ("steady", steady))
    }
    assert excess["plain"] > 0.02  # per-frame upscaling does shimmer on this clip
    assert excess["steady"] <= 0.6 * excess["plain"]
    detail = {
        n: np.mean([gradient_magnitude(f) for f in v]) for n, v in (("p", plain), ("s", steady))
    }
    assert detail["s"] >= 0.95 * detail["p"]
    plain_db, steady_db = psnr(plain, truth), psnr(steady, truth)
    assert steady_db.mean() >= plain_db.mean() - 0.3
    near = [t for cut in CUTS for t in (cut - 2, cut - 1, cut, cut + 1)]
    assert steady_db[near].mean() >= plain_db[near].mean() - 0.5
    assert all(steady_db[t] >= plain_db[t] - 0.5 for t in near)


def test_deflicker_makes_the_same_frames_however_the_video_is_cut(jobs: Any) -> None:
    """Chunks of at most 12 (two of 8 a scene, each reading a frame on either side) and a
    chunk per scene: every decoded frame identical, lossless."""
    whole, steady = jobs("deflicker-lossless", crf=0, deflicker=True)
    cut, twelve = jobs("deflicker-lossless-12", crf=0, deflicker=True, chunk_frames=12)
    assert (len(whole.chunks), len(cut.chunks)) == (3, 6)
    assert np.array_equal(steady, twelve)
