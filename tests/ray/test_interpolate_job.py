"""``--interpolate 2`` end to end: a 2 s clip of two scenes (pans over photographs, a cut
between) made from a 48 frames/s truth with every other frame dropped, back at 48 frames/s
with its audio, on the local and the Ray runner, in one chunk a scene or in chunks of 8."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from rayapp.config import ReplicaConfig, VideoJobConfig
from rayapp.errors import WeightsError
from rayapp.interpolate import blend_frames
from rayapp.pipeline import VideoJobResult, run_video_job
from rayapp.pipeline.certificate import summary
from rayapp.quality import psnr
from rayapp.testing import NearestUpscaler, stream_packets
from rayapp.testing.motion import minterpolated, photographs, scene_truth, write_clip
from rayapp.video import probe
from tests.ray.test_video_pipeline import assert_same_frames, frames_of

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SOURCE_FRAMES = 48  # 24 a scene, at 24 frames/s
CUT = 24  # the second scene's first source frame


@dataclass(frozen=True)
class Interpolated:
    truth: np.ndarray  # 96 frames at 48 frames/s, 160x120
    source: str  # its even frames at 24 frames/s, H.264 with audio
    out: str  # --interpolate 2, one chunk a scene, on the local runner, x2 nearest
    result: VideoJobResult


def job(source: str, out: str, **fields: object) -> VideoJobConfig:
    return VideoJobConfig(input=source, output=out, crf=0, interpolate=2, **fields)


@pytest.fixture(scope="module")
def interpolated(tmp_path_factory: pytest.TempPathFactory) -> Interpolated:
    folder = tmp_path_factory.mktemp("interpolate")
    coffee, _, astronaut = photographs()
    truth = scene_truth([(coffee, 48, (2.2, 0.6)), (astronaut, 48, (-1.6, 1.2))], 120, 160)
    source = write_clip(str(folder / "kept.mp4"), truth[::2], fps=24, crf=10)
    out = str(folder / "one.mp4")
    result = run_video_job(job(source, out), runner="local", upscaler=NearestUpscaler(2))
    return Interpolated(truth, source, out, result)


def test_the_output_has_every_frame_at_twice_the_rate_with_its_audio(
    interpolated: Interpolated,
) -> None:
    """96 frames from 48, at exact pts (mp4's time base halved), audio packet for packet,
    and a certificate that expects that timeline and says which frames were made."""
    source, out = probe(interpolated.source).video, probe(interpolated.out).video
    assert (source.frame_count, source.time_base) == (SOURCE_FRAMES, Fraction(1, 12288))
    assert source.frame_pts == tuple(range(0, 48 * 512, 512))
    assert (out.frame_count, out.time_base, out.average_rate) == (96, Fraction(1, 24576), 48)
    assert out.frame_pts == tuple(range(0, 96 * 512, 512))  # 1/48 s apart
    assert out.duration_s == source.duration_s == 2.0
    assert stream_packets(interpolated.out, "audio") and [
        bytes(p) for p in stream_packets(interpolated.out, "audio")
    ] == [bytes(p) for p in stream_packets(interpolated.source, "audio")]
    report = interpolated.result.report
    checks = report["integrity"]
    assert checks["ok"] and checks["frames"] == {"source": 96, "output": 96, "ok": True}
    assert checks["interpolated"] == {
        "frames_per_source_frame": 2,
        "source_frames": 48,
        "new_frames": 48,
        "new": "every frame whose number is not a multiple of 2",
        "repeating_scene_ends": [2 * CUT - 1, 95],
        "ok": True,
    }
    measured = report["quality"]
    assert measured["sampled_frames"] and all(t % 2 == 0 for t in measured["sampled_frames"])
    assert measured["consistency"]["ok"]
    assert (interpolated.result.chunks_total, interpolated.result.frames) == (2, 96)
    assert summary(report).startswith(
        "certificate: integrity ok (96 frames, 48 made between, 1 audio, 0 subtitle stream(s))"
    )


def test_new_frames_follow_the_motion_and_never_cross_the_cut(interpolated: Interpolated) -> None:
    """Against the dropped truth frames (x2 nearest, as the upscaler makes them), the new
    frames are at least 6 dB above a blend of their neighbours and no worse than FFmpeg's
    motion-compensated interpolation of the same frames (within 0.3 dB); the one after
    each scene's last frame repeats that frame, pixel for pixel."""
    frames = np.stack(frames_of(interpolated.out))
    reference = NearestUpscaler(2).upscale_batch(interpolated.truth)
    inside = [2 * i + 1 for i in range(SOURCE_FRAMES - 1) if i + 1 != CUT]
    mci = minterpolated(frames[::2])
    inside = [t for t in inside if t < len(mci)]  # the filter holds its last frames back
    assert len(inside) == 45

    def mean_psnr(made: list[np.ndarray]) -> float:
        return float(np.mean([psnr(m, reference[t])[0] for m, t in zip(made, inside, strict=True)]))

    ours = mean_psnr([frames[t] for t in inside])
    blend = mean_psnr([blend_frames(frames[t - 1], frames[t + 1], [0.5])[0] for t in inside])
    ffmpeg = mean_psnr([mci[t] for t in inside])
    assert ours >= blend + 6, (ours, blend)
    assert ours >= ffmpeg - 0.3, (ours, ffmpeg)
    for last in (2 * CUT - 2, 94):
        np.testing.assert_array_equal(frames[last + 1], frames[last])
    # The cut stays where the source has it: the second scene's first frame is no repeat.
    assert psnr(frames[2 * CUT], frames[2 * CUT - 1])[0] < 20


def test_chunks_of_8_on_the_local_runner_make_the_same_frames(
    interpolated: Interpolated, tmp_path: Path
) -> None:
    out = str(tmp_path / "eight.mp4")
    result = run_video_job(
        job(interpolated.source, out, chunk_frames=8), runner="local", upscaler=NearestUpscaler(2)
    )
    assert (result.chunks_total, result.report["integrity"]["ok"]) == (12, True)
    assert [c.chunk.first_frame_index for c in result.chunks] == list(range(0, 96, 8))
    assert_same_frames(out, interpolated.out)


def test_chunks_of_8_on_ray_make_the_same_frames(
    interpolated: Interpolated, ray_local: str, tmp_path: Path
) -> None:
    out = str(tmp_path / "ray.mkv")
    replicas = ReplicaConfig(min_replicas=2, max_replicas=2, num_cpus_per_replica=0.5)
    config = job(interpolated.source, out, chunk_frames=8, replicas=replicas)
    result = run_video_job(config, upscaler=NearestUpscaler(2))
    assert (result.chunks_total, result.report["integrity"]["ok"]) == (12, True)
    assert len({c.replica for c in result.chunks}) == 2
    assert_same_frames(out, interpolated.out)


def test_a_rife_checkpoint_by_path_runs_and_an_unknown_one_is_refused_first(
    interpolated: Interpolated, tmp_path: Path
) -> None:
    """A flownet.pkl of the 4.6 group (random weights): 16 frames from the first 8; a state
    dict of no group we know: one line naming the groups, before any work."""
    import torch

    from rayapp.rife import IFNet
    from rayapp.testing import make_test_video

    torch.manual_seed(0)
    pkl = tmp_path / "flownet.pkl"
    torch.save({f"module.{k}": v for k, v in IFNet("4.6").state_dict().items()}, pkl)
    clip = make_test_video(str(tmp_path / "eight.mp4"), frames=8, width=64, height=48)
    out = str(tmp_path / "rife.mp4")
    result = run_video_job(
        job(clip, out, interpolator=str(pkl)), runner="local", upscaler=NearestUpscaler(2)
    )
    assert (result.frames, result.report["integrity"]["ok"]) == (16, True)
    assert probe(out).video.frame_pts == tuple(range(0, 16 * 512, 512))
    torch.save({"module.block0.conv0.0.weight": torch.zeros(3, 3)}, tmp_path / "odd.pkl")
    bad = job(clip, str(tmp_path / "bad.mp4"), interpolator=str(tmp_path / "odd.pkl"))
    with pytest.raises(WeightsError, match=r"odd\.pkl: not a RIFE flownet.*4\.6 .*4\.25"):
        run_video_job(bad, runner="local", upscaler=NearestUpscaler(2))
    assert not list(tmp_path.glob("bad.mp4*"))


def test_a_variable_rate_source_gets_its_new_frames_at_its_own_midpoints(tmp_path: Path) -> None:
    """Frames at 0, 42, 104, 125, 167 and 250 ms (the last lasting 65): the new frames at
    21, 73, 114.5, 146, 208.5 and 282.5 ms, in MP4's time base exactly; duration kept."""
    from rayapp.testing import make_test_video

    src = make_test_video(str(tmp_path / "vfr.mkv"), frames=6, vfr=True)
    out = str(tmp_path / "vfr.mp4")
    result = run_video_job(job(src, out), runner="local", upscaler=NearestUpscaler(2))
    video = probe(out).video
    assert video.time_base == Fraction(1, 16000)  # 1/16 ms
    ms = [Fraction(p, 16) for p in video.frame_pts]
    assert ms == [0, 21, 42, 73, 104, Fraction(229, 2), 125, 146, 167, Fraction(417, 2), 250,
                  Fraction(565, 2)]  # fmt: skip
    assert video.duration_s == 0.315 and result.report["integrity"]["ok"]
