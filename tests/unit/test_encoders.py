"""A GPU node's balance, without a GPU: encoders sized from a node's CPUs (never more
threads than CPUs), NVENC's absence explained in words a person can act on, and the model's
forward of one run overlapping the encoding of another (a simulated GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayapp.config import ReplicaConfig
from rayapp.pipeline.cluster._sizing import EncoderPool, encoder_pool, job_lanes, replica_cpus
from rayapp.pipeline.planning._bound import stage_rates
from rayapp.testing import SimulatedGpuUpscaler, decode_video
from rayapp.video import encoder_usable
from rayapp.video._nvenc import gpu_model, nvenc_reason
from tests.local_job import upscale_locally


@pytest.mark.parametrize(
    ("cpus", "on_gpu", "asked", "pool"),
    [
        (16.0, True, None, EncoderPool(16, 1)),  # a GPU node: every CPU encodes
        (4.0, True, None, EncoderPool(4, 1)),  # a quarter of a 16-CPU, 1-GPU node
        (2.0, True, None, EncoderPool(2, 1)),
        (0.5, True, None, EncoderPool(1, 1)),  # less than a CPU: still one encoder
        (2.0, False, None, EncoderPool(1, 2)),  # model on the CPU: turns, every thread
        (8.0, False, None, EncoderPool(1, 8)),
        (8.0, True, 3, EncoderPool(3, 2)),  # as configured, the CPUs split between them
        (2.0, True, 4, EncoderPool(4, 1)),
    ],
)
def test_encoders_are_sized_from_the_replicas_cpus(
    cpus: float, on_gpu: bool, asked: int | None, pool: EncoderPool
) -> None:
    assert encoder_pool(cpus, model_on_gpu=on_gpu, encoders=asked) == pool


@pytest.mark.parametrize("cpus", [0.25, 1, 1.5, 2, 3, 4, 7.9, 16, 96])
@pytest.mark.parametrize("on_gpu", [True, False])
def test_a_replicas_encoders_never_take_more_threads_than_its_cpus(
    cpus: float, on_gpu: bool
) -> None:
    assert encoder_pool(cpus, model_on_gpu=on_gpu).cpus == max(1, int(cpus))


@pytest.mark.parametrize(
    ("replicas", "node", "share"),
    [
        (ReplicaConfig(num_gpus_per_replica=0.25, max_replicas=4), (16, 1), 4.0),
        (ReplicaConfig(num_gpus_per_replica=0.25, max_replicas=32), (96, 8), 3.0),
        (ReplicaConfig(num_gpus_per_replica=1, max_replicas=2), (16, 1), 16.0),
        (ReplicaConfig(max_replicas=2), (2, 0), 1.0),  # CPU replicas share the node
        (ReplicaConfig(max_replicas=1), (2, 0), 2.0),
        (ReplicaConfig(max_replicas=8, num_cpus_per_replica=1), (4, 0), 1.0),
        (ReplicaConfig(num_gpus_per_replica=0.5, max_replicas=2), (8, 0), 4.0),  # no GPU here
    ],
)
def test_a_replicas_share_of_its_node_follows_its_share_of_the_gpus(
    replicas: ReplicaConfig, node: tuple[int, int], share: float
) -> None:
    assert replica_cpus(replicas, *node) == share


@pytest.mark.parametrize(
    ("replicas", "node", "on_gpu", "lanes"),
    [
        # 4 GPU replicas on a 16-CPU node: 4 encoders each, 16 chunks at once.
        (ReplicaConfig(num_gpus_per_replica=0.25, max_replicas=4), (16, 1), True, 16),
        (ReplicaConfig(num_gpus_per_replica=1, max_replicas=2), (8, 1), True, 16),
        (ReplicaConfig(max_replicas=2), (2, 0), False, 2),  # on the CPU: a chunk per replica
        (ReplicaConfig(max_replicas=3), (96, 0), False, 3),
        (ReplicaConfig(max_replicas=1, num_cpus_per_replica=0.25), (2, 0), True, 2),
        (ReplicaConfig(max_replicas=2, encoders_per_replica=3), (16, 1), True, 6),
    ],
)  # fmt: skip
def test_a_jobs_chunks_are_cut_for_every_encoder_of_its_replicas(
    replicas: ReplicaConfig, node: tuple[int, int], on_gpu: bool, lanes: int
) -> None:
    assert job_lanes(replicas, *node, model_on_gpu=on_gpu) == lanes


LIBCUDA = "[Errno 1] Operation not permitted; FFmpeg: Cannot load libcuda.so.1"
ENCODE_LIB = "[Errno 1] Operation not permitted; FFmpeg: Cannot load libnvidia-encode.so.1"
UNSUPPORTED = "[Errno 38] Function not implemented; FFmpeg: OpenEncodeSessionEx failed: "
OLD_DRIVER = (
    "[Errno 38] Function not implemented; FFmpeg: Driver does not support the required nvenc "
    "API version. Required: 13.0 Found: 12.1"
)


@pytest.mark.parametrize(
    ("error", "gpu", "reason"),
    [
        (LIBCUDA, None, "no NVIDIA driver on this node (libcuda.so.1 not found)"),
        (UNSUPPORTED + "unsupported device (2)", "NVIDIA H200",
         "no NVENC on this GPU model (NVIDIA H200: it has NVDEC only)"),
        (UNSUPPORTED + "unsupported device (2)", "NVIDIA A100-SXM4-80GB",
         "no NVENC on this GPU model (NVIDIA A100-SXM4-80GB: it has NVDEC only)"),
        (UNSUPPORTED + "unsupported device (2)", "Tesla X9",
         "no NVENC on this GPU model (Tesla X9)"),
        (ENCODE_LIB, "NVIDIA L4",
         "the container lacks the driver's video capability (libnvidia-encode.so.1 not found):"
         " run it with NVIDIA_DRIVER_CAPABILITIES=compute,video,utility"),
        (OLD_DRIVER, "NVIDIA A10G",
         f"the NVIDIA driver is too old for this FFmpeg's NVENC ({OLD_DRIVER})"),
        ("[Errno 12] Cannot allocate memory; FFmpeg: ", "NVIDIA L40S",
         "NVENC did not open ([Errno 12] Cannot allocate memory; FFmpeg: )"),
    ],
)  # fmt: skip
def test_why_nvenc_does_not_open_is_said_so_a_person_can_act(
    error: str, gpu: str | None, reason: str
) -> None:
    assert nvenc_reason(error, gpu) == reason


def test_this_machine_has_no_nvidia_driver_and_says_so() -> None:
    if gpu_model() is not None:
        pytest.skip("an NVIDIA GPU is here")
    assert encoder_usable("h264_nvenc") == "no NVIDIA driver on this node (libcuda.so.1 not found)"


def test_a_gpus_forward_overlaps_the_encoding_of_other_chunks(
    bframes_mkv: str, tmp_path: Path
) -> None:
    """Each chunk records how many other chunks its replica had in flight when it began:
    run in turn (forward, encode, next forward) every count would be 0."""
    out = tmp_path / "out.mkv"
    result = upscale_locally(
        bframes_mkv, str(out), SimulatedGpuUpscaler(scale=2, frame_s=0.05),
        chunk_frames=6, preset="ultrafast", replicas={"encoders_per_replica": 2},
    )  # fmt: skip
    assert result.chunks_total == 8
    assert max(c.alongside for c in result.chunks) == 1  # two encoders, never more
    assert sum(c.alongside for c in result.chunks) >= 4
    assert decode_video(str(out)).indices == list(range(48))


def test_the_plan_names_the_binding_stage_and_what_lifts_it() -> None:
    # An H200-like GPU (4.4 ms a frame), libx264 medium at 2560x1920 (0.3 CPU-s a frame),
    # 16 CPUs: the GPU could do 227 frames/s, the encoders 53: they bind.
    gpu = stage_rates(
        network_s=0.0044, encode_s=0.3, decode_s=0.004, cpus=16, gpus=1, threads=1,
        model_on_gpu=True, encoder_on_gpu=False, faster_encode_s={"veryfast": 0.08},
    )  # fmt: skip
    assert (round(gpu.model), round(gpu.encoders), round(gpu.decoders)) == (227, 53, 4000)
    assert gpu.bound == "encoders"
    assert gpu.faster_presets == {"veryfast": 200.0}
    assert gpu.lift(model_on_gpu=True, encoder_on_gpu=False) == (
        "more CPUs per GPU, a faster preset (--preset veryfast: 200.0 frames/s), or NVENC "
        "(a GPU that has it: g5.xlarge (A10G), g6.xlarge (L4))"
    )
    # The same model on 2 CPUs (0.8 s a frame on 1 thread): the model binds.
    cpu = stage_rates(
        network_s=0.8, encode_s=0.1, decode_s=0.001, cpus=2, gpus=0, threads=1,
        model_on_gpu=False, encoder_on_gpu=False,
    )  # fmt: skip
    assert cpu.bound == "model" and cpu.model == pytest.approx(2.5)
    assert "the model binds it; what would lift it: a GPU" in cpu.describe(False, False)
    nvenc = stage_rates(
        network_s=0.01, encode_s=0.004, decode_s=0.001, cpus=4, gpus=1, threads=1,
        model_on_gpu=True, encoder_on_gpu=True,
    )  # fmt: skip
    assert (nvenc.bound, nvenc.encoders) == ("model", 250.0)
