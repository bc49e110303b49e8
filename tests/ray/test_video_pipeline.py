"""The Ray video pipeline end to end: S3 in, S3 out, frame-exact; faults; resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from rayapp import storage
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.pipeline import VideoJobResult, run_video_job
from rayapp.testing import NearestUpscaler, decode_video, make_test_video, stream_packets
from tests.conftest import SharedRay
from tests.scenes import CUTS, SceneClip
from tests.waiting import wait_until

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TWO_REPLICAS = ReplicaConfig(min_replicas=2, max_replicas=2, num_cpus_per_replica=0.5)
# The cut of every job here, as flags: what config() sets.
CUT = ["--outscale", "2", "--segment-s", "0.25", "--chunk-frames", "3", "--crf", "0"]


def frames_of(uri: str) -> list[np.ndarray]:
    import av

    with storage.open_input(uri) as f, av.open(f) as c:
        return [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)]


def assert_same_frames(uri: str, reference: str) -> None:
    """Every frame of ``uri`` equals ``reference``'s, pixel for pixel, and as many."""
    for a, b in zip(frames_of(uri), frames_of(reference), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, s3_server: dict[str, str]) -> str:
    """48 frames with B-frames, keyframes every 6 frames, AAC audio; uploaded to S3.

    Segments of 0.25 s are 6 frames; chunks of 3 frames make 16 chunks."""
    local = tmp_path_factory.mktemp("src") / "in.mp4"
    make_test_video(str(local), frames=48, width=48, height=32, gop=6, bframes=2)
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.mkdir("src-videos")
    fs.put_file(str(local), "src-videos/in.mp4")
    return "s3://src-videos/in.mp4"


def config(source: str, output: str, **kw: object) -> VideoJobConfig:
    """crf 0: lossless x264, so decoded pixels are exactly the model's. (x264's lossy
    bitstream was seen to differ between two runs on the same frames under heavy CPU load,
    so lossy outputs are not compared bit for bit.)"""
    kw.setdefault("crf", 0)
    kw.setdefault("chunk_frames", 3)
    return VideoJobConfig(
        input=source,
        output=output,
        upscale=UpscaleConfig(outscale=2),
        segment_s=0.25,
        replicas=TWO_REPLICAS,
        **kw,
    )


@pytest.fixture(scope="module")
def fault_free_run(source: str, ray_local: str) -> tuple[str, VideoJobResult]:
    out = "s3://src-videos/fault-free.mp4"
    result = run_video_job(config(source, out))
    assert (result.frames, result.chunks_total, result.chunks_reused) == (48, 16, 0)
    return out, result


@pytest.fixture(scope="module")
def fault_free(fault_free_run: tuple[str, VideoJobResult]) -> str:
    return fault_free_run[0]


def test_s3_to_s3_is_frame_exact(source: str, fault_free: str) -> None:
    src, out = decode_video(source), decode_video(fault_free)
    assert out.indices == list(range(48))
    assert len(out.pts) == 48
    assert [p * out.time_base for p in out.pts] == [p * src.time_base for p in src.pts]
    assert [bytes(p) for p in stream_packets(fault_free, "audio")] == [
        bytes(p) for p in stream_packets(source, "audio")
    ]
    assert frames_of(fault_free)[0].shape == (64, 96, 3)
    # the work prefix is gone after success
    assert not storage.exists(fault_free + ".rayapp-work")


def _metric_samples(name: str, workers: set[str]) -> list[float]:
    """The samples of ``name`` that the Ray workers ``workers`` (their ids) exported."""
    import urllib.request

    import ray

    port = next(node["MetricsExportPort"] for node in ray.nodes() if node["Alive"])
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    lines = [line for line in body.decode().splitlines() if line.startswith(name + "{")]
    return [
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if (worker := re.search(r'WorkerId="(\w+)"', line)) and worker[1] in workers
    ]


def _replica_workers(result: VideoJobResult, logs: Path) -> set[str]:
    """The Ray worker ids of the job's replicas, from their pids (``replica`` is pid@host) and
    Ray's worker log names (``worker-<worker id>-<job id>-<pid>.out``)."""
    pids = {chunk.replica.split("@")[0] for chunk in result.chunks}
    return {p.name.split("-")[1] for pid in pids for p in logs.glob(f"worker-*-{pid}.out")}


def test_metrics_reach_the_metrics_endpoint(
    fault_free_run: tuple[str, VideoJobResult], shared_ray: SharedRay
) -> None:
    """The job's replicas upscaled 48 frames in 16 chunks (the shared Ray's endpoint also
    holds the jobs of the modules before this one: the replicas' samples are told apart by
    their worker)."""
    result = fault_free_run[1]
    workers = _replica_workers(result, shared_ray.logs)
    assert len(workers) == len({chunk.replica for chunk in result.chunks}), workers

    def upscaled() -> float | None:
        frames = sum(_metric_samples("ray_rayapp_frames_upscaled_total", workers))
        return frames if frames >= 48 else None

    frames = wait_until(upscaled, 60, "48 upscaled frames at the metrics endpoint", interval_s=1)
    assert frames == 48
    assert sum(_metric_samples("ray_rayapp_chunk_latency_s_count", workers)) == 16
    assert _metric_samples("ray_rayapp_replicas_busy", workers)  # exported by the replicas


def test_local_runner_makes_the_same_chunks_and_pixels(
    source: str, fault_free_run: tuple[str, VideoJobResult], tmp_path: Path
) -> None:
    """`rayapp video` (the local runner) on the same job: the same job fingerprint, the same
    chunks, the same pixels. It runs in a process set up as a replica is (torch on one
    thread: sums in another order could flip a rare rounding)."""
    fault_free, result = fault_free_run
    local, work = str(tmp_path / "local.mp4"), tmp_path / "work"
    cmd = [sys.executable, "-m", "rayapp.cli", "video", source, local, *CUT, "--no-progress"]
    r = subprocess.run(
        [*cmd, "--work", str(work), "--keep-work"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    (folder,) = work.iterdir()
    assert folder.name == result.chunks[0].chunk.uri.rsplit("/", 2)[1]  # the job's fingerprint
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("chunk-*.json"))]
    assert [(c["first_frame_index"], c["frame_count"]) for c in records] == [
        (c.chunk.first_frame_index, c.chunk.frame_count) for c in result.chunks
    ]
    assert [p.name for p in sorted(folder.glob("chunk-*.mp4"))] == [
        c.chunk.uri.rsplit("/", 1)[1] for c in result.chunks
    ]
    ours, theirs = frames_of(fault_free), frames_of(local)
    assert len(ours) == len(theirs) == 48
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def _chunk_records(work: str) -> int:
    """How many chunks are finished under the work prefix ``work``."""
    return len(list(Path(work).rglob("chunk-*.json")))


def _replica_pids() -> list[int]:
    """PIDs of the live model replicas of this test's cluster."""
    from ray._private import state  # the GCS actor table; the state API needs a dashboard

    return [
        a["Pid"]
        for a in state.actors().values()
        if a["State"] == "ALIVE" and "UpscaleEncode" in a["ActorClassName"] and a.get("Pid")
    ]


def test_killed_replica_is_replaced_and_output_unchanged(
    source: str, fault_free: str, tmp_path: Path
) -> None:
    out = "s3://src-videos/killed-replica.mp4"
    work = str(tmp_path / "work")
    done: dict[str, object] = {}
    job = threading.Thread(
        target=lambda: done.setdefault("result", run_video_job(config(source, out, work=work)))
    )
    job.start()

    def replica_mid_job() -> int | None:
        """A live replica's pid once some chunks are done: the job is mid-way."""
        assert job.is_alive(), "the job ended before a replica could be killed"
        pids = _replica_pids()
        return pids[0] if _chunk_records(work) and pids else None

    try:
        killed = wait_until(replica_mid_job, 240, "a replica at work mid-job", interval_s=0.2)
        os.kill(killed, signal.SIGKILL)
    finally:
        job.join(timeout=300)
    assert done["result"].frames == 48  # type: ignore[attr-defined]
    for a, b in zip(frames_of(out), frames_of(fault_free), strict=True):
        np.testing.assert_array_equal(a, b)


def _job_cmd(source: str, out: str, work: str) -> list[str]:
    replicas = ["--min-replicas", "2", "--max-replicas", "2", "--num-cpus-per-replica", "0.5"]
    job = [sys.executable, "-m", "jobs.upscale_video", "--input", source, "--output", out]
    return [*job, *CUT, "--work", work, *replicas]


def _killed_and_resumed(
    source: str, out: str, work: str, chunks: int, address: str, *extra: str
) -> None:
    """The job (``_job_cmd`` and ``extra``, on the Ray at ``address``) killed once 3 of its
    ``chunks`` are finished, then run again: it reuses them, makes the rest, and leaves no
    chunk behind."""
    env = {**os.environ, "RAY_ADDRESS": address}
    first = subprocess.Popen(
        [*_job_cmd(source, out, work), *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: first.poll() is not None or _chunk_records(work) >= 3,
            240,
            "3 finished chunks (or the driver's exit)",
            interval_s=0.1,
        )
    finally:
        first.kill()
        first.wait()
    finished = _chunk_records(work)
    assert 3 <= finished < chunks, f"expected the driver to die mid-job, {finished} chunks done"
    assert not storage.exists(out)
    second = subprocess.run(
        [*_job_cmd(source, out, work), *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert second.returncode == 0, second.stderr[-2000:]
    line = [ln for ln in second.stdout.splitlines() if ln.startswith("wrote ")][-1]
    reused = int(line.split(" chunks computed, ")[1].split(" reused")[0])
    computed = int(line.split(", ")[2].split(" chunks computed")[0])
    assert reused >= finished and reused + computed == chunks
    assert not Path(work).exists() or not any(Path(work).rglob("chunk-*"))


def test_killed_driver_resumes_from_finished_chunks(
    source: str, fault_free: str, ray_local: str, tmp_path: Path
) -> None:
    out = "s3://src-videos/resumed.mp4"
    _killed_and_resumed(source, out, str(tmp_path / "work"), 16, ray_local)
    for a, b in zip(frames_of(out), frames_of(fault_free), strict=True):
        np.testing.assert_array_equal(a, b)


def test_killed_driver_resumes_an_interpolated_job(
    source: str, ray_local: str, tmp_path: Path
) -> None:
    """--interpolate 2 in chunks of 8 frames (4 source frames, 12 chunks): the rerun makes
    the 96 frames of a job never killed."""
    out, whole = "s3://src-videos/resumed-x2.mp4", "s3://src-videos/whole-x2.mp4"
    work = str(tmp_path / "work")
    twice = ["--interpolate", "2", "--chunk-frames", "8"]
    _killed_and_resumed(source, out, work, 12, ray_local, *twice)
    reference = run_video_job(config(source, whole, interpolate=2, chunk_frames=8))
    assert (reference.frames, reference.report["integrity"]["ok"]) == (96, True)
    for a, b in zip(frames_of(out), frames_of(whole), strict=True):
        np.testing.assert_array_equal(a, b)


def test_changed_config_never_reuses_stale_chunks(source: str, ray_local: str, tmp_path: Path):
    work = str(tmp_path / "work")
    a = run_video_job(config(source, "s3://src-videos/a.mp4", work=work, keep_work=True))
    b = run_video_job(config(source, "s3://src-videos/b.mp4", work=work, keep_work=True, crf=30))
    again = run_video_job(config(source, "s3://src-videos/c.mp4", work=work))
    assert (a.chunks_reused, b.chunks_reused, again.chunks_reused) == (0, 0, 16)
    assert frames_of("s3://src-videos/c.mp4")[5].shape == (64, 96, 3)


def test_ray_runner_skips_repeats_and_changes_no_pixel(ray_local: str, tmp_path: Path) -> None:
    """Drawings held 2 and 3 frames, chunks of 6 spread over two replicas: the frames that
    repeat the one before in their chunk skip the network; the output is the local runner's
    without skipping, pixel for pixel."""
    src = make_test_video(
        str(tmp_path / "held.mkv"), frames=30, holds=(2, 3), crf=0, gop=30, texture=True
    )

    def job(out: str, **fields: object) -> VideoJobConfig:
        return VideoJobConfig(
            input=src, output=str(tmp_path / out), segment_s=60, chunk_frames=6, crf=0,
            replicas=TWO_REPLICAS, **fields,
        )  # fmt: skip

    on_ray = run_video_job(job("ray.mkv", dedup_threshold=0), upscaler=NearestUpscaler(2))
    local = run_video_job(
        job("local.mkv", dedup=False), runner="local", upscaler=NearestUpscaler(2)
    )
    assert (on_ray.frames_skipped, local.frames_skipped) == (15, 0)
    assert len({c.replica for c in on_ray.chunks}) == 2
    for a, b in zip(frames_of(on_ray.output_uri), frames_of(local.output_uri), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("runner", ["ray-data", "ray-data-fused"])
def test_ray_data_runners_make_the_local_runners_chunks_and_pixels(
    runner: str, ray_local: str, tmp_path: Path
) -> None:
    """The same stages as a Ray Data pipeline (encoding in CPU tasks, or in the replicas),
    two replicas, chunks of 6 from segments of 2 runs: the local runner's chunks, pixels,
    pts, skipped repeats and certificate measures (measured per chunk where it was made)."""
    src = make_test_video(
        str(tmp_path / "held.mkv"), frames=30, holds=(2, 3), crf=0, gop=12, texture=True
    )

    def job(out: str) -> VideoJobConfig:
        return VideoJobConfig(
            input=src, output=str(tmp_path / out), segment_s=0.5, chunk_frames=6, crf=0,
            dedup_threshold=0, replicas=TWO_REPLICAS, report_frames=8,
        )  # fmt: skip

    data = run_video_job(job("data.mkv"), runner=runner, upscaler=NearestUpscaler(2))
    local = run_video_job(job("local.mkv"), runner="local", upscaler=NearestUpscaler(2))
    assert [(c.chunk.first_frame_index, c.frame_count) for c in data.chunks] == [
        (c.chunk.first_frame_index, c.frame_count) for c in local.chunks
    ]
    assert len(data.chunks) == 5 and all(c.replica for c in data.chunks)
    assert (data.frames_skipped, local.frames_skipped) == (15, 15)
    assert data.report["quality"] == local.report["quality"] != {}
    assert decode_video(data.output_uri).pts == decode_video(local.output_uri).pts
    ours, theirs = frames_of(data.output_uri), frames_of(local.output_uri)
    assert len(ours) == len(theirs) == 30
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_s3_archive_through_one_replica_pool(
    ray_local: str, s3_bucket: str, tmp_path: Path
) -> None:
    """Ten clips in two folders, a zero-byte .mp4 and a text file on S3: ten outputs frame-
    exact on S3, the broken one failed and nothing written for it, the text file ignored,
    the table on S3, and a rerun that rewrites nothing."""
    import s3fs

    from rayapp.pipeline import run_archive_job
    from tests.local_job import check_output
    from tests.unit.test_archive import CLIPS, make_archive

    s3fs.S3FileSystem().put(make_archive(str(tmp_path)), f"{s3_bucket}/in/", recursive=True)
    archive, out = f"{s3_bucket}/in/", f"{s3_bucket}/hd/"
    config = VideoJobConfig(input=archive, output=out, chunk_frames=6, replicas=TWO_REPLICAS)
    result = run_archive_job(config, upscaler=NearestUpscaler(2), progress=())
    assert result.exit_code == 1 and result.ignored == (f"{archive}notes.txt",)
    rows = {r.input: r for r in result.rows}
    broken = rows.pop(f"{archive}b/broken.mp4")
    assert (broken.status, broken.error) == (
        "failed", f"{archive}b/broken.mp4 is empty (0 bytes); expected a video file"
    )  # fmt: skip
    assert not storage.exists(f"{out}b/broken.mp4")
    assert sorted(rows) == sorted(f"{archive}{rel}" for rel in CLIPS)
    for rel in CLIPS:
        assert (rows[f"{archive}{rel}"].status, rows[f"{archive}{rel}"].frames) == ("done", 12)
        check_output(f"{archive}{rel}", f"{out}{rel}")
    table = storage.read_bytes(f"{out}rayapp-archive.csv").decode().splitlines()
    assert len(table) == 12 and table[0].startswith("input,output,status,frames,")
    before = {rel: storage.info(f"{out}{rel}")["ETag"] for rel in CLIPS}
    again = run_archive_job(config, upscaler=NearestUpscaler(2), progress=())
    assert [r.status for r in again.rows].count("skipped") == 10
    assert {rel: storage.info(f"{out}{rel}")["ETag"] for rel in CLIPS} == before


def test_broadcast_sources_through_the_ray_job(ray_local: str, tmp_path: Path) -> None:
    """25i top and bottom field first (one anamorphic, with a timecode), captions, HDR10 and
    HLG, as one archive on the Ray runner, each cut into two chunks: deinterlaced frame for
    frame, the captions, HDR metadata, aspect and timecode kept, each certified."""
    from fractions import Fraction

    from rayapp.pipeline import run_archive_job
    from rayapp.quality import combing
    from rayapp.testing.make import frame_caption
    from rayapp.video import probe
    from tests.local_job import check_output
    from tests.unit.test_broadcast import MASTERING, captions_shown, frames_of

    folder = tmp_path / "in"
    folder.mkdir()
    clip = {"frames": 8, "gop": 4, "fps": 25}
    make_test_video(
        str(folder / "tff.mov"),
        interlaced="tff",
        timecode="10:00:00:00",
        sample_aspect_ratio=Fraction(16, 15),
        **clip,
    )
    make_test_video(str(folder / "bff.mkv"), interlaced="bff", **clip)
    make_test_video(str(folder / "cc.mp4"), captions=True, **clip)
    for colour in ("hdr10", "hlg"):
        path = str(folder / f"{colour}.mkv")
        make_test_video(path, codec="libx265", pix_fmt="yuv420p10le", colour=colour, **clip)
    out = tmp_path / "out"
    config = VideoJobConfig(
        input=f"{folder}/", output=f"{out}/", chunk_frames=4, replicas=TWO_REPLICAS
    )
    result = run_archive_job(config, upscaler=NearestUpscaler(2), progress=())
    assert [(Path(r.input).name, r.status, r.frames) for r in result.rows] == [
        ("bff.mkv", "done", 8), ("cc.mp4", "done", 8), ("hdr10.mkv", "done", 8),
        ("hlg.mkv", "done", 8), ("tff.mov", "done", 8),
    ]  # fmt: skip
    for name in ("tff.mov", "bff.mkv", "cc.mp4", "hdr10.mkv", "hlg.mkv"):
        check_output(str(folder / name), str(out / name))
    for name in ("tff.mov", "bff.mkv"):
        report = json.loads((out / f"{name}.report.json").read_text())
        assert report["integrity"]["field_order"]["deinterlaced"] == name[:3]
        assert report["speed"]["chunks"] == 2
        assert combing(frames_of(str(out / name))[:, ::2, ::2]).mean() < 0.1
    assert captions_shown(str(out / "cc.mp4")) == {i: frame_caption(i) for i in range(8)}
    tff = probe(str(out / "tff.mov")).video
    assert (tff.sample_aspect_ratio, tff.timecode) == (Fraction(16, 15), "10:00:00:00")
    hdr10, hlg = probe(str(out / "hdr10.mkv")).video, probe(str(out / "hlg.mkv")).video
    assert hdr10.hdr is not None and hdr10.hdr.mastering == MASTERING
    assert (hdr10.bit_depth, hdr10.colour.transfer, hlg.bit_depth, hlg.colour.transfer) == (
        10, 16, 10, 18
    )  # fmt: skip


def test_a_telecined_clip_restored_to_film_on_the_ray_job(ray_local: str, tmp_path: Path) -> None:
    """--ivtc on the Ray runner, chunks of 4 film frames on two replicas: the 8 film frames
    of 10 telecined ones, each once, at 24 a second, certified."""
    from fractions import Fraction

    src = make_test_video(
        str(tmp_path / "telecined.mp4"), frames=10, fps=30, gop=5, telecine=True,
        interlaced="tff", width=128, height=96,
    )  # fmt: skip
    out = str(tmp_path / "out.mp4")
    config = VideoJobConfig(
        input=src, output=out, ivtc=True, segment_s=0.1, chunk_frames=4, replicas=TWO_REPLICAS
    )
    result = run_video_job(config, upscaler=NearestUpscaler(2), progress=())
    decoded = decode_video(out)
    assert decoded.indices == list(range(8))
    assert [p * decoded.time_base for p in decoded.pts] == [Fraction(k, 24) for k in range(8)]
    speed, checks = result.report["speed"], result.report["integrity"]
    assert (speed["chunks"], checks["frames"]["output"], checks["ok"]) == (2, 8, True)
    assert checks["field_order"]["ivtc"] is True


def test_field_rate_on_the_ray_job(ray_local: str, tmp_path: Path) -> None:
    """--deinterlace double on the Ray runner: 8 frames of 25i make 16 at 50 a second,
    chunks of 3 (a frame's two fields in two chunks) on two replicas, certified."""
    src = make_test_video(str(tmp_path / "tff.mkv"), frames=8, fps=25, gop=4, interlaced="tff")
    out = str(tmp_path / "out.mkv")
    config = VideoJobConfig(
        input=src, output=out, deinterlace="double", chunk_frames=3, segment_s=0.1,
        replicas=TWO_REPLICAS,
    )  # fmt: skip
    result = run_video_job(config, upscaler=NearestUpscaler(2), progress=())
    decoded = decode_video(out)
    assert decoded.indices == [i // 2 for i in range(16)]
    assert decoded.pts == list(range(0, 320, 20))  # milliseconds
    checks = result.report["integrity"]
    assert checks["ok"] and checks["frames"]["output"] == 16 and checks["field_order"]["field_rate"]
    assert result.report["speed"]["chunks"] == 6


def test_the_ray_runner_cuts_at_scenes_and_deflickers_as_the_local_one(
    scene_clip: SceneClip, ray_local: str, tmp_path: Path
) -> None:
    """Chunks of at most 12 on Ray (two of 8 a scene), each decoded by a task with a frame
    on either side and
    deflickered in a replica, make exactly the frames of the local runner's chunk per
    scene (lossless)."""
    job = VideoJobConfig(
        input=scene_clip.source, output=str(tmp_path / "ray.mkv"), crf=0, deflicker=True,
        chunk_frames=12, replicas=TWO_REPLICAS,
    )  # fmt: skip
    on_ray = run_video_job(job, upscaler=NearestUpscaler(2))
    here = job.model_copy(update={"output": str(tmp_path / "local.mkv"), "chunk_frames": None})
    local = run_video_job(here, runner="local", upscaler=NearestUpscaler(2), progress=())
    assert [c.chunk.first_frame_index for c in on_ray.chunks] == [0, 8, 16, 24, 32, 40]
    assert [c.chunk.first_frame_index for c in local.chunks] == [0, *CUTS]
    assert np.array_equal(np.stack(frames_of(on_ray.output_uri)), np.stack(frames_of(here.output)))
