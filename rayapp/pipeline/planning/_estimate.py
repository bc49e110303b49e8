"""What a video job will take and cost, before it runs: ``rayapp plan``, the video job's
``--dry-run`` and ``POST /v1/jobs`` with ``"dry_run": true``.

1. Probe (packets only, no decode): frames, keyframe segments and chunks, cut exactly as the
   job cuts them (``plan_video_job``, the job's own).
2. Sample: decode a few segments spread over the video and count the frames the job would
   not run through the network (repeats, ``rayapp.pipeline.stages._dedup``).
3. Measure one replica's work per frame on a few of those real frames: the network (on the
   device and thread count a replica gets), the encoder (the job's codec, at the output
   size) and the decoder. Or take a stored measurement for a named device (``--instance``):
   ``STORED`` holds what ``.gpu`` runs measured on real GPUs.
4. Estimate: the frames, spread over the replicas, at the rate the slowest shared resource
   allows (``estimate_s``), plus the fixed cost of starting replicas and of the certificate.
   The replica count that meets a deadline is the smallest whose estimate does.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from rayapp import storage
from rayapp.codecs import CODECS, FAMILIES
from rayapp.config import INSTANCES, Instance, PlanOptions, VideoJobConfig
from rayapp.errors import ConfigError
from rayapp.pipeline.cluster import (
    encoder_pool,
    replica_cpus,
    replica_node,
    replica_threads,
    torch_threads,
)
from rayapp.pipeline.planning._bound import StageRates, stage_rates
from rayapp.pipeline.planning._plan import lanes_on, plan_video_job
from rayapp.pipeline.stages import network_sources
from rayapp.video import (
    ChunkEncoder,
    EncodeSettings,
    JobPlan,
    Segment,
    VideoStreamInfo,
    decode_segment,
    encoder_usable,
    nvenc_reason,
)

__all__ = [
    "STORED",
    "Calibration",
    "Totals",
    "VideoEstimate",
    "estimate_job",
    "estimate_s",
    "parse_duration",
    "estimate_video",
]

log = logging.getLogger(__name__)


# Seconds per frame of one replica's network in fp16 (1 frame per forward; the job's
# micro_batch default), measured on real GPUs by the project's device check (.gpu runs):
# {gpu: {model: {(width, height): s}}}. Sizes in between are scaled by pixel count.
STORED: dict[str, dict[str, dict[tuple[int, int], float]]] = {
    "H100": {  # NVIDIA H100 80GB HBM3, torch 2.11, 2026-11-26
        "realesr-animevideov3": {(320, 240): 0.00257, (640, 480): 0.00488, (1280, 720): 0.0381},
        "realesrgan-x4plus": {(320, 240): 0.0304, (640, 480): 0.0939, (1280, 720): 0.305},
    },
}

_X26X = ("libx264", "libx265")
_ENCODED_FRAMES = 12
_FAST = ("ultrafast", "superfast", "veryfast")

STARTUP_S = 6.0
"""Replicas loading their model and the first decode tasks starting (the benchmark's
``cold`` section measures it); a local Ray's own start comes on top when there is none."""
LOCAL_RAY_START_S = 4.0


@dataclass(frozen=True)
class Calibration:
    """One replica's seconds per frame: the network (per frame it runs on), the encoder
    (per output frame) and the decoder (per source frame, in the decode tasks)."""

    device: str
    model_s: float
    encode_s: float
    decode_s: float
    source: str  # "measured on <device>" or "stored for <gpu>"
    # --face-enhance: finding a frame's faces and restoring them, per output frame, as the
    # replica does beside its network (measured with it; 0 where the network's is stored).
    faces_s: float = 0.0

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda") or self.source.startswith("stored")


@dataclass(frozen=True)
class Totals:
    """An archive's work (``_archive_plan``), estimated in place of one video's: its videos'
    frames, seconds, segments and chunks, added up."""

    frames: int
    duration_s: float
    segments: int
    chunks: int


@dataclass(frozen=True)
class VideoEstimate:
    input: str
    frames: int
    duration_s: float
    input_size: tuple[int, int]  # (width, height)
    output_size: tuple[int, int]
    segments: int
    chunks: int
    chunk_frames: int
    cut: str  # the scenes, the chunks, and why a seam falls inside a scene (Cut.describe)
    duplicate_share: float  # of the sampled frames, those that repeat the one before
    sampled_frames: int
    calibration: Calibration
    replicas: int
    cpus: float  # the cluster's, as the estimate counts them
    gpus: float
    estimated_s: float
    replica_hours: float
    instance: str | None
    nodes: int | None
    cost_usd: float | None
    deadline_s: float | None
    replicas_for_deadline: int | None
    encoder: str  # the encoder a replica's chunks get (a family resolved on its device)
    encoder_note: str | None  # why not NVENC, where a GPU replica falls back to the CPU
    encoders_per_replica: int  # chunks a replica encodes at once
    stages: StageRates
    # The estimate at other replica counts (1, 2, 4, ... and around the deadline's count).
    by_replicas: dict[int, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        c = self.calibration
        lines = [
            f"{self.input}: {self.frames} frames, {self.duration_s:.2f} s, "
            f"{self.input_size[0]}x{self.input_size[1]} -> {self.output_size[0]}x"
            f"{self.output_size[1]}",
            f"work: {self.segments} segments, {self.chunks} chunks of up to {self.chunk_frames} "
            f"frames; {self.duplicate_share:.0%} of {self.sampled_frames} sampled frames "
            "repeat the one before (not run through the network)",
            f"cut: {self.cut}",
            f"per frame ({c.source}): network {c.model_s * 1000:.1f} ms, "
            + (f"faces {c.faces_s * 1000:.1f} ms, " if c.faces_s else "")
            + f"encode {c.encode_s * 1000:.1f} ms, decode {c.decode_s * 1000:.1f} ms",
            f"estimate: {_hms(self.estimated_s)} at {self.replicas} replicas "
            f"({self.cpus:g} CPUs, {self.gpus:g} GPUs); {self.replica_hours:.3f} replica-hours",
            f"encoder: {self.encoder}, {self.encoders_per_replica} chunks at once per replica"
            + (f" (no NVENC: {self.encoder_note})" if self.encoder_note else ""),
            self.stages.describe(self.calibration.on_gpu, CODECS[self.encoder].gpu),
        ]
        if self.instance:
            cost = "price unknown" if self.cost_usd is None else f"${self.cost_usd:.2f}"
            lines.append(f"on {self.nodes} x {self.instance}: {cost}")
        if self.deadline_s is not None:
            meets = (
                f"{self.replicas_for_deadline} replicas"
                if self.replicas_for_deadline
                else f"out of reach (at most one replica per chunk, {self.chunks}; the "
                "cluster's CPUs and GPUs bound the rest)"
            )
            lines.append(f"deadline {_hms(self.deadline_s)}: {meets}")
        return "\n".join(lines)


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '2h', '1h30m' -> seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    total, number = 0.0, ""
    for ch in text.strip().lower():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total, number = total + float(number) * units[ch], ""
        else:
            raise ConfigError(f"Cannot read duration {text!r}: use e.g. 90s, 15m, 2h, 1h30m")
    if number:
        total += float(number)
    if total <= 0:
        raise ConfigError(f"Duration {text!r} is not positive")
    return total


def estimate_s(
    *,
    frames: int,
    chunks: int,
    longest_chunk: int,
    calibration: Calibration,
    duplicate_share: float,
    replicas: int,
    cpus: float,
    gpus: float,
    threads: int,
    encoders: int = 1,
    startup_s: float = STARTUP_S,
    every: int = 1,
) -> float:
    """Seconds the job takes at ``replicas`` replicas on ``cpus``/``gpus``.

    An encoder of a replica does a frame in ``w`` = network (for frames that are not
    repeats) + encode; a replica's ``encoders`` work side by side, their forwards taking
    turns on its model, so a replica does a frame every ``max(network, w / encoders)``. The
    job's rate is the least of: the replicas'; the CPUs' (each frame costs decode + encode
    CPU seconds, plus the network's ``threads`` cores per second when it runs on the CPU);
    the GPUs' (network seconds per frame, when it runs on a GPU). The last chunks cannot be
    split: no job is faster than its rounds of whole chunks through every encoder (chunks
    of the mean length), nor than its ``longest_chunk``. ``every``: frames per source frame
    (``--interpolate``): one in ``every`` is decoded and upscaled, all are encoded (the
    frames made between are not timed: a few hundredths of a second each on a CPU, the
    benchmark's ``interpolate`` section)."""
    c = calibration
    network = (1.0 - duplicate_share) * c.model_s / every + c.faces_s
    w = network + c.encode_s
    on_gpu = c.on_gpu
    cpu_per_frame = c.decode_s / every + c.encode_s + (0.0 if on_gpu else network * threads)
    rates = [replicas / max(network, w / encoders), cpus / cpu_per_frame]
    if on_gpu and network > 0:
        rates.append(max(gpus, 1e-9) / network)
    work = frames / min(rates)
    mean = frames / max(chunks, 1)
    rounds = max(math.ceil(chunks / (replicas * encoders)) * mean, longest_chunk) * w
    return startup_s + max(work, min(rounds, frames * w))


def estimate_video(
    config: VideoJobConfig,
    options: PlanOptions | None = None,
    *,
    samples: int = 4,
    measure_frames: int = 3,
    totals: Totals | None = None,
) -> VideoEstimate:
    """Plan ``config`` (module docstring); ``samples``: segments decoded to count repeats.
    ``totals``: estimate that much work (an archive's), measured on ``config.input``."""
    options = options or PlanOptions()
    deadline_s = parse_duration(options.deadline) if options.deadline else None
    node = _instance(options.instance)
    if node is not None and node.gpu and not config.replicas.num_gpus_per_replica:
        raise ConfigError(
            f"{node.name} has a GPU: give the job's --num-gpus-per-replica (e.g. 0.25), "
            "else its replicas run on the CPU"
        )
    cpus, gpus, ray_start_s = _cluster(node)
    node_cpus, node_gpus = (node.vcpus, node.gpus) if node else _replica_node(config, cpus, gpus)
    # Cut as the job will cut it, for its replicas' encoders on such a node.
    plan = plan_video_job(config, lanes=lanes_on((node_cpus, node_gpus), config, None))
    video = plan.info.video
    work = totals or Totals(video.frame_count, video.duration_s, len(plan.segments), len(plan.runs))
    sample, decode_s = _sample_frames(config.input, plan.segments, samples)
    share = _duplicate_share(sample, config.effective_dedup_threshold)
    threads = replica_threads(config.replicas)
    timed = sample[:measure_frames]
    device, model_s, faces_s, source = _calibrate(config, plan, timed, threads, node)
    on_gpu = device == "cuda"
    settings, note = _encoder(plan.settings, on_gpu, node)
    pool = encoder_pool(
        replica_cpus(config.replicas, node_cpus, node_gpus),
        model_on_gpu=on_gpu,
        encoders=config.replicas.encoders_per_replica,
    )
    encoded = _spread_runs(sample, _ENCODED_FRAMES)
    encode_s = _encode_s(plan, encoded, settings, pool.threads)
    calibration = Calibration(device, model_s, encode_s, decode_s, source, faces_s)
    n = options.replicas or config.replicas.max_replicas
    longest = max((r.frame_count for r in plan.runs), default=0) if totals is None else 0

    def estimate(count: int) -> tuple[float, int | None]:
        nodes = None
        c, g = cpus, gpus
        if node is not None:  # the autoscaler adds nodes for the replicas
            per_node = node.gpus / config.replicas.num_gpus_per_replica if node.gpus else (
                node.vcpus / config.replicas.num_cpus_per_replica
            )  # fmt: skip
            nodes = max(1, math.ceil(count / max(per_node, 1e-9)))
            c, g = nodes * node.vcpus, nodes * node.gpus
        seconds = estimate_s(
            frames=work.frames, chunks=work.chunks, longest_chunk=longest,
            calibration=calibration, duplicate_share=share, replicas=count, cpus=c, gpus=g,
            threads=threads, encoders=pool.encoders, startup_s=STARTUP_S + ray_start_s,
            every=plan.interpolate,
        )  # fmt: skip
        return seconds, nodes

    seconds, nodes = estimate(n)
    all_cpus = cpus if nodes is None else nodes * node.vcpus
    all_gpus = gpus if nodes is None else nodes * node.gpus
    rates = _stage_rates(
        calibration, share, all_cpus, all_gpus, threads, pool.threads, settings, plan, encoded
    )
    limit = max(work.chunks, 1)  # more replicas than chunks have nothing to do
    needed = None if deadline_s is None else _replicas_for(deadline_s, estimate, limit)
    counts = {2**i for i in range(limit.bit_length() + 1) if 2**i <= limit} | {n}
    if needed:
        counts |= {needed, needed - 1} - {0}
    return VideoEstimate(
        input=config.input,
        frames=work.frames,
        duration_s=work.duration_s,
        input_size=(video.width, video.height),
        output_size=(plan.size[1], plan.size[0]),
        segments=work.segments,
        chunks=work.chunks,
        chunk_frames=plan.chunk_frames,
        cut=plan.cut.describe() if totals is None else "as each video's (scenes not counted)",
        duplicate_share=share,
        sampled_frames=len(sample),
        calibration=calibration,
        replicas=n,
        cpus=all_cpus,
        gpus=all_gpus,
        estimated_s=seconds,
        replica_hours=n * seconds / 3600,
        instance=node.name if node else None,
        nodes=nodes,
        encoder=settings.spec.name,
        encoder_note=note,
        encoders_per_replica=pool.encoders,
        stages=rates,
        cost_usd=(nodes * seconds / 3600 * node.usd_per_hour)
        if node and node.usd_per_hour is not None
        else None,
        deadline_s=deadline_s,
        replicas_for_deadline=needed,
        by_replicas={count: estimate(count)[0] for count in sorted(counts)},
    )


def estimate_job(config: VideoJobConfig) -> float:
    """The job's estimated seconds on the cluster it runs on (``VideoJobConfig.estimate``)."""
    return estimate_video(config).estimated_s


def _replicas_for(
    deadline_s: float, estimate: Callable[[int], tuple[float, int | None]], limit: int
) -> int | None:
    """The fewest replicas, up to ``limit``, whose estimate meets ``deadline_s``; None when
    none does."""
    for count in range(1, limit + 1):
        if estimate(count)[0] <= deadline_s:
            return count
    return None


def _instance(name: str | None) -> Instance | None:
    if name is None:
        return None
    if name not in INSTANCES:
        raise ConfigError(f"Unknown instance {name!r}; known: {', '.join(sorted(INSTANCES))}")
    node = INSTANCES[name]
    if node.gpu is not None and node.gpu not in STORED:
        raise ConfigError(
            f"No stored timing for {node.gpu} ({name}); stored: {', '.join(sorted(STORED))}. "
            "Plan on a cluster that has one (RAY_ADDRESS) to time the model there"
        )
    return node


def _sample_frames(
    uri: str, segments: tuple[Segment, ...], count: int
) -> tuple[list[np.ndarray], float]:
    """The frames of ``count`` segments spread evenly over the video (first and last
    included), and the seconds decoding took per frame."""
    picks = sorted({round(i * (len(segments) - 1) / max(count - 1, 1)) for i in range(count)})
    started = time.perf_counter()
    frames = [f.image for i in picks for f in decode_segment(uri, segments[i])]
    return frames, (time.perf_counter() - started) / max(len(frames), 1)


def _spread_runs(frames: list[np.ndarray], count: int, run: int = 4) -> list[np.ndarray]:
    """``count`` of ``frames`` (in order) as runs of ``run`` consecutive ones spread over
    them: an encoder's cost depends on the content and on the motion from frame to frame (a
    frame repeated costs it next to nothing, as the first frames of a clip, often a fade,
    cost it little)."""
    if len(frames) <= count:
        return frames
    runs = max(1, count // run)
    starts = [round(k * (len(frames) - run) / max(runs - 1, 1)) for k in range(runs)]
    return [frames[start + j] for start in starts for j in range(run)]


def _duplicate_share(frames: list[np.ndarray], threshold: float | None) -> float:
    """The share of ``frames`` the job would not run through the network (None: dedup is
    off). Each sampled segment starts a run, as each chunk does."""
    if threshold is None or len(frames) < 2:
        return 0.0
    sources = network_sources(np.stack(frames), threshold)
    return sum(s != j for j, s in enumerate(sources)) / len(sources)


def _calibrate(
    config: VideoJobConfig,
    plan: JobPlan,
    frames: list[np.ndarray],
    threads: int,
    node: Instance | None,
) -> tuple[str, float, float, str]:
    """(device type, the network's seconds per frame, the face step's, where those figures
    come from)."""
    if node is not None and node.gpu is not None:
        model_s = _stored(node.gpu, config.upscale.model, plan.info.video)
        return "cuda", model_s, 0.0, f"stored for {node.gpu}"
    device, model_s, faces_s = _time_network(config, frames, threads)
    return device.split(":")[0], model_s, faces_s, f"measured on {device}"


def _encoder(
    settings: EncodeSettings, on_gpu: bool, node: Instance | None
) -> tuple[EncodeSettings, str | None]:
    """The encoder a replica's chunks get, and why not NVENC when a GPU replica's codec
    family falls back to the CPU: asked here (the plan runs where a replica would), or,
    for a named instance, read from its GPU's model."""
    if node is not None:
        if node.gpu is None:
            return settings.for_device("cpu"), None
        note = nvenc_reason("", node.gpu)
        if note.startswith("no NVENC"):
            return settings.for_device("cpu"), note
        return settings.for_device("cuda", lambda _: None), None
    chosen = settings.for_device("cuda" if on_gpu else "cpu")
    family = FAMILIES.get(settings.codec, ())
    gpu = next((name for name in family if CODECS[name].gpu), None)
    note = encoder_usable(gpu) if on_gpu and gpu and not chosen.spec.gpu else None
    return chosen, note


def _stage_rates(
    calibration: Calibration,
    share: float,
    cpus: float,
    gpus: float,
    threads: int,
    encoder_threads: int,
    settings: EncodeSettings,
    plan: JobPlan,
    frames: list[np.ndarray],
) -> StageRates:
    """The stages' frames/s on the cluster (``_bound``), with the encoders' at faster x264
    or x265 presets when they bind."""
    c = calibration
    on_nvenc = settings.spec.gpu
    cpu_encode_s = c.encode_s * (1 if on_nvenc else encoder_threads)
    args = {
        "network_s": (1.0 - share) * c.model_s + c.faces_s, "decode_s": c.decode_s, "cpus": cpus,
        "gpus": gpus, "threads": threads, "model_on_gpu": c.on_gpu, "encoder_on_gpu": on_nvenc,
    }  # fmt: skip
    rates = stage_rates(encode_s=cpu_encode_s, **args)
    preset = settings.preset or settings.spec.preset_default
    if rates.bound != "encoders" or settings.spec.name not in _X26X or preset in _FAST:
        return rates
    faster = replace(settings, preset="veryfast")
    faster_s = _encode_s(plan, frames, faster, 1)
    return stage_rates(encode_s=cpu_encode_s, faster_encode_s={"veryfast": faster_s}, **args)


def _stored(gpu: str, model: str, video: VideoStreamInfo) -> float:
    table = STORED[gpu].get(model)
    if table is None:
        raise ConfigError(
            f"No stored timing of {model} on {gpu}; stored: {', '.join(sorted(STORED[gpu]))}"
        )
    pixels = video.width * video.height
    (w, h), s = min(table.items(), key=lambda kv: abs(kv[0][0] * kv[0][1] - pixels))
    return s * pixels / (w * h)


def _time_network(
    config: VideoJobConfig, frames: list[np.ndarray], threads: int
) -> tuple[str, float, float]:
    """(device, seconds per frame, the face step's seconds per frame) of the network on
    ``frames``, as one replica runs it: the job's model on its device, ``threads`` torch
    threads, ``micro_batch`` frames per forward, after one warm-up; with
    ``--face-enhance``, its faces found and restored in the upscales (0 without)."""
    import torch  # the model's libraries: loaded where the plan times it

    from rayapp.upscaler import Upscaler

    with torch_threads(threads):
        up = Upscaler.from_config(config.upscale)
        batch = np.stack(frames[: max(1, config.micro_batch)])
        up.upscale_batch(batch[:1])
        runs = max(1, len(frames) // len(batch))
        started = time.perf_counter()
        for _ in range(runs):
            up.upscale_batch(batch)
        if up.device.type == "cuda":
            torch.cuda.synchronize(up.device)
        model_s = (time.perf_counter() - started) / (runs * len(batch))
        faces_s = 0.0
        if up.faces is not None:
            pictures = [(f[None], up.upscale_batch(f[None])) for f in frames]
            started = time.perf_counter()
            for picture, upscaled in pictures:
                up.faces.apply(picture, upscaled)
            faces_s = (time.perf_counter() - started) / len(pictures)
        return str(up.device), model_s, faces_s


def _encode_s(
    plan: JobPlan, frames: list[np.ndarray], settings: EncodeSettings, threads: int
) -> float:
    """Seconds per output frame of the encoder ``settings`` names with ``threads``
    threads (as a replica's encoder runs), on ``frames`` (``_spread_runs`` of the sampled
    ones) resized to the output size, taken round until ``_ENCODED_FRAMES`` on a clip that
    has fewer (opening and flushing the encoder are part of a chunk, not of each frame)."""
    from rayapp.resize import resize_image  # torch

    height, width = plan.size
    resized = [resize_image(f, (height, width)) for f in frames]
    images = [resized[i % len(resized)] for i in range(_ENCODED_FRAMES)]
    uri = f"memory://rayapp-plan/{uuid.uuid4().hex}.mp4"
    video = plan.info.video
    started = time.perf_counter()
    with ChunkEncoder(
        uri, video, height=height, width=width, settings=settings, threads=threads
    ) as enc:
        for i, image in enumerate(images):
            enc.write(image.astype(enc.dtype), frame_index=i, pts=i)
    encode_s = (time.perf_counter() - started) / max(len(images), 1)
    fs, path = storage.filesystem(uri)
    fs.rm(path)
    return encode_s


def _replica_node(config: VideoJobConfig, cpus: float, gpus: float) -> tuple[float, float]:
    """(CPUs, GPUs) of the node the job's replicas would run on, as the job finds it on a
    connected cluster; else this machine's (the job's local Ray is this machine)."""
    import ray

    found = replica_node(config.replicas) if ray.is_initialized() else None
    return found or (cpus, gpus)


def _cluster(node: Instance | None) -> tuple[float, float, float]:
    """(CPUs, GPUs, Ray start s): the connected cluster's, else this machine's (the job
    starts a local Ray, which takes LOCAL_RAY_START_S). With an instance the estimate
    counts nodes instead."""
    import ray

    if node is not None:
        return node.vcpus, node.gpus, 0.0
    if ray.is_initialized():
        res = ray.cluster_resources()
        return res.get("CPU", 1.0), res.get("GPU", 0.0), 0.0
    import torch

    return float(os.cpu_count() or 1), float(torch.cuda.device_count()), LOCAL_RAY_START_S
