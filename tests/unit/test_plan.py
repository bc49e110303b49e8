"""``rayapp plan`` (``rayapp.pipeline.estimate_video``) on generated clips: frame and chunk
counts exact, the share of repeated frames close to the clip's true share, a deadline's
replica count consistent with the plan's own estimates, and the estimate's arithmetic."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from rayapp.config import PlanOptions, UpscaleConfig, VideoJobConfig
from rayapp.errors import ConfigError
from rayapp.pipeline import Calibration, estimate_s, estimate_video, parse_duration
from rayapp.testing import make_test_video
from rayapp.testing.make import held_drawings

ROOT = Path(__file__).resolve().parents[2]
HOLDS = (1, 2, 3, 4)  # 4 drawings per 10 frames: 60 % of frames repeat the one before


def job(src: str, tmp_path: Path, **kw: object) -> VideoJobConfig:
    return VideoJobConfig(
        input=src, output=str(tmp_path / "out.mp4"), upscale=UpscaleConfig(outscale=2),
        segment_s=0.5, **kw,
    )  # fmt: skip


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("plan") / "held.mp4"
    return make_test_video(str(path), frames=120, width=64, height=48, gop=12, holds=HOLDS)


def test_counts_are_exact_and_the_repeat_share_is_close(held: str, tmp_path: Path) -> None:
    plan = estimate_video(job(held, tmp_path, chunk_frames=5))
    # One scene in 24 chunks of 5; a segment joins chunks until it is 0.5 s long, then
    # starts at the next chunk that seeks to another keyframe (every 12): 8 segments.
    assert (plan.frames, plan.segments, plan.chunks, plan.chunk_frames) == (120, 8, 24, 5)
    assert plan.cut == "1 scene, 24 chunks, 23 seams inside scenes (--chunk-frames 5)"
    assert (plan.input_size, plan.output_size) == ((64, 48), (128, 96))
    drawings = held_drawings(120, HOLDS)
    true = sum(a == b for a, b in zip(drawings, drawings[1:], strict=False)) / 120
    assert true == pytest.approx(0.6, abs=0.01)
    assert plan.sampled_frames == 60  # 4 segments of 15
    assert abs(plan.duplicate_share - true) <= 0.10, plan.duplicate_share
    assert plan.calibration.model_s > 0 and plan.calibration.encode_s > 0
    assert not (tmp_path / "out.mp4").exists()
    no_dedup = estimate_video(job(held, tmp_path, chunk_frames=5, dedup=False))
    assert no_dedup.duplicate_share == 0.0


def test_the_deadline_count_is_the_fewest_replicas_its_own_estimate_allows(
    held: str, tmp_path: Path
) -> None:
    first = estimate_video(job(held, tmp_path, chunk_frames=4))
    one, most = first.by_replicas[1], min(first.by_replicas.values())
    assert most < one
    deadline = (one + most) / 2
    plan = estimate_video(job(held, tmp_path, chunk_frames=4), PlanOptions(deadline=f"{deadline}s"))
    n = plan.replicas_for_deadline
    if n is None:  # timings moved between the two plans: then nothing below one replica's
        assert min(plan.by_replicas.values()) > deadline
        return
    assert plan.by_replicas[n] <= deadline
    assert n == 1 or plan.by_replicas[n - 1] > deadline
    assert "deadline" in plan.describe()


def test_an_instance_uses_stored_timings_nodes_and_price(held: str, tmp_path: Path) -> None:
    config = VideoJobConfig(
        input=held, output=str(tmp_path / "o.mp4"), segment_s=0.5, chunk_frames=12,
        upscale=UpscaleConfig(model="realesrgan-x4plus"),
        replicas={"max_replicas": 8, "num_gpus_per_replica": 0.25},
    )  # fmt: skip
    with pytest.raises(ConfigError, match="No stored timing for A10G"):
        estimate_video(config, PlanOptions(instance="g5.xlarge"))
    plan = estimate_video(config, PlanOptions(instance="p5.4xlarge"))
    # 4 replicas per H100, 8 replicas: 2 nodes; the stored 320x240 figure scaled to 64x48
    assert (plan.nodes, plan.gpus, plan.cpus) == (2, 2, 32)
    assert plan.calibration.source == "stored for H100"
    assert plan.calibration.model_s == pytest.approx(0.0304 * 64 * 48 / (320 * 240))
    assert plan.cost_usd is None  # no price stored for it
    # An H100 has no NVENC: its replicas encode with libx264, four chunks at once each
    # (a quarter of 16 CPUs), and the plan says which stage binds and what lifts it.
    assert (plan.encoder, plan.encoders_per_replica) == ("libx264", 4)
    assert plan.encoder_note == "no NVENC on this GPU model (H100: it has NVDEC only)"
    assert plan.stages.bound in ("model", "encoders", "decoders")
    described = plan.describe()
    assert "encoder: libx264, 4 chunks at once per replica (no NVENC: " in described
    assert f"the {plan.stages.bound} bind" in described
    # 8 replicas x 4 encoders make 32 chunks at once, but a scene of 5 s is one chunk: no
    # keyframe inside it (a chunk holds up to 10 s, 240 frames).
    whole = config.model_copy(update={"chunk_frames": None, "segment_s": 60})
    auto = estimate_video(whole, PlanOptions(instance="p5.4xlarge"))
    assert (auto.segments, auto.chunks, auto.chunk_frames, auto.cut) == (
        1,
        1,
        240,
        "1 scene, 1 chunk",
    )
    cpu = VideoJobConfig(input=held, output=str(tmp_path / "o.mp4"), segment_s=0.5)
    with pytest.raises(ConfigError, match="has a GPU: give the job's --num-gpus-per-replica"):
        estimate_video(cpu, PlanOptions(instance="p5.4xlarge"))


def test_estimate_arithmetic() -> None:
    cal = Calibration("cpu", model_s=0.1, encode_s=0.02, decode_s=0.01, source="measured on cpu")
    # A replica: 0.5 * 0.1 + 0.02 = 0.07 s a frame; 4 of them: 57.1 frames/s. The CPUs:
    # 0.01 + 0.02 + 0.05 * 2 threads = 0.13 CPU-s a frame, 8 CPUs: 61.5 frames/s.
    common = {"calibration": cal, "duplicate_share": 0.5, "threads": 2, "startup_s": 5}
    got = estimate_s(frames=400, chunks=40, longest_chunk=10, replicas=4, cpus=8, gpus=0, **common)
    assert got == pytest.approx(5 + 400 / (4 / 0.07))
    # 2 CPUs bind it: 2 / 0.13 frames/s
    got = estimate_s(frames=400, chunks=40, longest_chunk=10, replicas=4, cpus=2, gpus=0, **common)
    assert got == pytest.approx(5 + 400 * 0.13 / 2)
    # one chunk of 400 frames cannot be split between replicas
    got = estimate_s(frames=400, chunks=1, longest_chunk=400, replicas=4, cpus=8, gpus=0, **common)
    assert got == pytest.approx(5 + 400 * 0.07)
    # --interpolate 2: half the 400 frames decoded and upscaled. A replica: 0.025 + 0.02 s
    # a frame; the CPUs: 0.005 + 0.02 + 0.025 * 2 = 0.075 CPU-s, 2 CPUs bind it.
    got = estimate_s(frames=400, chunks=40, longest_chunk=10, replicas=4, cpus=2, gpus=0,
                     every=2, **common)  # fmt: skip
    assert got == pytest.approx(5 + 400 * 0.075 / 2)
    # --face-enhance, 0.5 s a frame on the replica beside its network: 0.6 s + 0.02 s a
    # frame for each of the 4 replicas, which bind it (the CPUs: 1.23 CPU-s a frame on 8,
    # 6.50 frames/s against the replicas' 6.45).
    faces = replace(cal, faces_s=0.5)
    got = estimate_s(frames=400, chunks=40, longest_chunk=10, replicas=4, cpus=8, gpus=0,
                     calibration=faces, duplicate_share=0.0, threads=2, startup_s=5)  # fmt: skip
    assert got == pytest.approx(5 + 400 * 0.62 / 4)
    gpu = Calibration("cuda", 0.01, 0.002, 0.001, "stored for H100")
    got = estimate_s(frames=1000, chunks=100, longest_chunk=10, calibration=gpu,
                     duplicate_share=0.0, replicas=8, cpus=16, gpus=0.5, threads=1,
                     startup_s=0)  # fmt: skip
    assert got == pytest.approx(1000 * 0.01 / 0.5)  # half a GPU binds it
    assert math.isclose(parse_duration("1h30m"), 5400) and parse_duration("90") == 90
    with pytest.raises(ConfigError, match="Cannot read duration"):
        parse_duration("soon")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_the_cli_plans_in_this_process(held: str) -> None:
    """``rayapp plan`` (the job's ``--dry-run`` on a Ray: tests/ray/test_dry_run.py)."""
    done = _run("-m", "rayapp.cli", "plan", held, "--outscale", "2", "--segment-s", "0.5",
                "--chunk-frames", "12", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert (plan["frames"], plan["chunks"], plan["output_size"]) == (120, 10, [128, 96])
    done = _run("-m", "rayapp.cli", "plan", held, "--instance", "nowhere.large")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "rayapp: error: Unknown instance 'nowhere.large'; known: c6i.2xlarge, g5.xlarge, "
        "g6.xlarge, p5.4xlarge"
    ]


def test_a_planned_job_states_estimate_against_actual_in_its_report(
    held: str, tmp_path: Path
) -> None:
    from rayapp.pipeline import run_video_job

    config = job(held, tmp_path, chunk_frames=12, estimate=True, report_frames=0)
    result = run_video_job(config, runner="local", progress=())
    estimate = result.report["estimate"]
    assert set(estimate) == {"estimated_s", "actual_s", "ratio"}
    assert 0 < estimate["actual_s"] < result.elapsed_s
    assert estimate["ratio"] == estimate["estimated_s"] / estimate["actual_s"]
    written = json.loads((tmp_path / "out.mp4.report.json").read_text())
    assert written["estimate"] == estimate
    assert (
        "estimate"
        not in run_video_job(
            job(held, tmp_path, chunk_frames=12, report_frames=0), runner="local", progress=()
        ).report
    )


def test_the_encoder_is_timed_on_distinct_frames_spread_over_the_clip() -> None:
    """Runs of 4 consecutive sampled frames, first and last included: never the clip's first
    frames repeated (a repeat costs x264 next to nothing; the plan overstated an H200
    node's encoders six times so)."""
    from rayapp.pipeline.planning._estimate import _spread_runs

    frames = list(range(40))  # stand-ins for the sampled frames, in order
    assert _spread_runs(frames, 12) == [0, 1, 2, 3, 18, 19, 20, 21, 36, 37, 38, 39]
    assert _spread_runs(frames[:10], 12) == frames[:10]  # a short clip: all of them


def test_an_archive_plan_adds_up_its_videos(held: str, tmp_path: Path) -> None:
    from rayapp.pipeline import estimate_for

    archive = tmp_path / "archive"
    (archive / "a").mkdir(parents=True)
    (archive / "a" / "held.mp4").write_bytes(Path(held).read_bytes())
    for name in ("b/one.mkv", "b/two.mp4"):
        make_test_video(str(archive / name), frames=24, width=64, height=48, gop=12)
    (archive / "b" / "empty.mp4").write_bytes(b"")
    (archive / "notes.txt").write_text("not a video")
    config = VideoJobConfig(
        input=f"{archive}/", output=str(tmp_path / "out"), upscale=UpscaleConfig(outscale=2),
        segment_s=0.5, chunk_frames=12,
    )  # fmt: skip
    plan = estimate_for(config)
    assert (plan.videos, plan.probed, plan.ignored) == (4, 4, 1)
    assert plan.unreadable == (f"{archive}/b/empty.mp4",)
    assert plan.measured_on == f"{archive}/a/held.mp4"
    # 120 + 24 + 24 frames; 10 + 2 + 2 segments of 12 frames, a chunk each
    assert (plan.plan.frames, plan.plan.segments, plan.plan.chunks) == (168, 14, 14)
    assert plan.plan.input == "4 videos" and plan.plan.estimated_s > 0
    assert plan.describe().startswith(f"archive {archive}/: 4 videos (all probed), 1 other")
