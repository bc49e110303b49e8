"""``--face-enhance`` in a video job: 2 s of the astronaut's face moving across the frame,
its face restored in every frame (a stand-in restorer, ``rayapp.testing.faces``: GFPGAN
takes seconds a face on a CPU), along landmarks steadied over the frames around each, so
that chunks of 8 on the local and the Ray runner make the frames of one chunk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from rayapp.config import ReplicaConfig, VideoJobConfig
from rayapp.pipeline import VideoJobResult, run_video_job
from rayapp.testing import FaceNearestUpscaler, NearestUpscaler
from rayapp.testing.motion import scene_truth, write_clip
from tests.ray.test_video_pipeline import assert_same_frames, frames_of

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@dataclass(frozen=True)
class FacesRun:
    source: str  # 48 frames at 24 frames/s, 200x150, the face moving (2, -0.5) px a frame
    out: str  # one chunk, faces restored, x2 nearest, on the local runner
    result: VideoJobResult
    plain: str  # the same without faces


def job(source: str, out: str, **fields: object) -> VideoJobConfig:
    return VideoJobConfig(input=source, output=out, crf=0, **fields)


@pytest.fixture(scope="module")
def faces_run(tmp_path_factory: pytest.TempPathFactory) -> FacesRun:
    folder = tmp_path_factory.mktemp("faces")
    clip = scene_truth([(skimage.data.astronaut(), 48, (-2.0, 0.5))], 150, 200)
    source = write_clip(str(folder / "face.mp4"), clip, fps=24)
    out, plain = str(folder / "faces.mkv"), str(folder / "plain.mkv")
    result = run_video_job(job(source, out), runner="local", upscaler=FaceNearestUpscaler(2))
    run_video_job(job(source, plain), runner="local", upscaler=NearestUpscaler(2))
    return FacesRun(source, out, result, plain)


def test_every_frame_has_its_face_restored_and_nothing_else_changed(faces_run: FacesRun) -> None:
    """The stand-in restorer darkens the aligned face: in every frame the pixels that
    differ from the plain upscale are darker, and lie around the face (a box a little
    over a quarter of the frame, moving with it)."""
    assert faces_run.result.report["integrity"]["ok"] and faces_run.result.frames == 48
    for made, plain in zip(frames_of(faces_run.out), frames_of(faces_run.plain), strict=True):
        changed = np.any(made != plain, axis=-1)
        assert 0.05 < changed.mean() < 0.35, changed.mean()
        assert made[changed].astype(int).sum() < plain[changed].astype(int).sum()
        rows, cols = np.nonzero(changed)
        assert rows.max() - rows.min() < 220 and cols.max() - cols.min() < 220


def test_chunks_of_8_on_the_local_runner_make_the_same_frames(
    faces_run: FacesRun, tmp_path: Path
) -> None:
    out = str(tmp_path / "eight.mkv")
    result = run_video_job(
        job(faces_run.source, out, chunk_frames=8), runner="local", upscaler=FaceNearestUpscaler(2)
    )
    assert (result.chunks_total, result.report["integrity"]["ok"]) == (6, True)
    assert_same_frames(out, faces_run.out)


def test_chunks_of_8_on_ray_make_the_same_frames(
    faces_run: FacesRun, ray_local: str, tmp_path: Path
) -> None:
    """Against one chunk on Ray: the detector's convolutions round differently on another
    number of threads (the local runner's two, a replica's one), so that a landmark, and a
    pixel or two of a face, may differ by a level between runners, never within one."""
    replicas = ReplicaConfig(min_replicas=2, max_replicas=2, num_cpus_per_replica=0.5)
    outs = [str(tmp_path / "one.mkv"), str(tmp_path / "eight.mkv")]
    for out, chunk_frames in zip(outs, (None, 8), strict=True):
        config = job(faces_run.source, out, chunk_frames=chunk_frames, replicas=replicas)
        result = run_video_job(config, upscaler=FaceNearestUpscaler(2))
        assert (result.chunks_total, result.report["integrity"]["ok"]) == (
            6 if chunk_frames else 1,
            True,
        )
    assert len({c.replica for c in result.chunks}) == 2
    assert_same_frames(outs[1], outs[0])
