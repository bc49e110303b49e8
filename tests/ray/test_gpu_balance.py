"""A GPU node's balance on the Ray runner, with a simulated GPU (a forward that waits off
the CPU): the replica sizes its encoders from its share of the node's CPUs, says so, and
encodes several chunks at once while its model works on the next."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayapp.config import ReplicaConfig, VideoJobConfig
from rayapp.pipeline import run_video_job
from rayapp.pipeline.runners._ray import UpscaleEncodeReplica
from rayapp.testing import NearestUpscaler, SimulatedGpuUpscaler, decode_video, make_test_video

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_a_gpu_replica_encodes_as_many_chunks_as_its_node_has_cpus(
    ray_local: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = make_test_video(str(tmp_path / "in.mp4"), frames=36, width=48, height=32, gop=6)
    config = VideoJobConfig(
        input=src,
        output=str(tmp_path / "out.mp4"),
        chunk_frames=6,
        preset="ultrafast",
        report_frames=0,
        # One replica on a 2-CPU node: its share is both CPUs, so two encoders.
        replicas=ReplicaConfig(min_replicas=1, max_replicas=1, num_cpus_per_replica=0.5),
    )
    with caplog.at_level("INFO", logger="rayapp.pipeline.runners._schedule"):
        result = run_video_job(
            config, upscaler=SimulatedGpuUpscaler(scale=2, frame_s=0.05), progress=()
        )
    ready = [r.getMessage() for r in caplog.records if "ready" in r.getMessage()]
    assert len(ready) == 1 and ready[0].endswith(
        "simulated-gpu on cuda:0 in fp16, encoding with libx264, 2 chunks at once (1 threads each)"
    ), ready
    assert result.chunks_total == 6 and len({c.replica for c in result.chunks}) == 1
    assert max(c.alongside for c in result.chunks) == 1
    assert sum(c.alongside for c in result.chunks) >= 3
    assert decode_video(str(tmp_path / "out.mp4")).indices == list(range(36))


def test_an_archives_videos_share_the_replicas_encoders(ray_local: str, tmp_path: Path) -> None:
    """Three one-chunk videos, one replica with two encoders: the second video's chunk takes
    the encoder the first one leaves free (they run side by side, where one video at a time
    would leave it idle), and the replica never has more chunks than encoders."""
    from rayapp.pipeline import run_archive_job

    for k in range(3):
        make_test_video(str(tmp_path / "in" / f"v{k}.mp4"), frames=12, width=48, height=32)
    chunks = []
    config = VideoJobConfig(
        input=f"{tmp_path}/in/", output=f"{tmp_path}/out/", chunk_frames=12, segment_s=10,
        preset="ultrafast", report_frames=0,
        replicas=ReplicaConfig(min_replicas=1, max_replicas=1, num_cpus_per_replica=0.5),
    )  # fmt: skip
    result = run_archive_job(
        config,
        upscaler=SimulatedGpuUpscaler(scale=2, frame_s=0.1),  # 1.2 s a chunk, off the CPU
        progress=[lambda event: event.chunk and chunks.append(event.chunk)],
    )
    assert [(r.status, r.frames) for r in result.rows] == [("done", 12)] * 3
    assert len(chunks) == 3 and len({c.replica for c in chunks}) == 1
    spans = sorted((c.started_at, c.finished_at) for c in chunks)
    # Side by side: the second began before the first ended ...
    assert spans[1][0] < spans[0][1]
    # ... and never three at once on two encoders.
    assert max(c.alongside for c in chunks) <= 1
    assert not (spans[2][0] < spans[0][1] and spans[2][0] < spans[1][1])
    for k in range(3):
        assert decode_video(f"{tmp_path}/out/v{k}.mp4").indices == list(range(12))


def _huge_pages() -> str:
    """This process's ``THP_enabled`` (0: turned off for it by prctl)."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(line.split()[1] for line in status if line.startswith("THP_enabled:"))


@pytest.mark.parametrize(
    ("upscaler", "huge_pages"), [(SimulatedGpuUpscaler(scale=2), "0"), (NearestUpscaler(2), "1")]
)
def test_a_gpu_replica_turns_off_huge_pages_for_its_process(
    ray_local: str, upscaler: NearestUpscaler, huge_pages: str
) -> None:
    """x264's huge pages are zeroed afresh for every chunk; a replica whose model is on a
    GPU gives that CPU to its encoders. One on the CPU keeps them (torch's tensors)."""
    import ray

    replica = ray.remote(UpscaleEncodeReplica).remote(
        upscaler=upscaler, replicas=ReplicaConfig(num_cpus_per_replica=0.25)
    )
    try:
        assert ray.get(replica.call.remote(_huge_pages), timeout=60) == huge_pages
    finally:
        ray.kill(replica)
