"""Benchmark on this machine: ``python -m jobs.benchmark [--section forward] [--models a,b]``.

Sections (one function each, selected with ``--section``; later issues add more):
- ``forward``: the bare network, ours (eager, and compiled by ``rayapp.accel``) next to the
  ncnn CPU run of the same model and this machine's matmul peak, all interleaved in one
  process so background load hits every variant alike.
- ``pipeline``: the Ray video job end to end on generated clips (a short one and one
  ``--long`` times longer) next to the bare model forward on the same decoded frames and
  the sequential driver, with where the time goes (Ray start, replica start-up, first chunk,
  steady state, assembly), peak memory of the driver and of the Ray processes, the object
  store's peak, and the peak temporary disk against the output's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from jobs import _bench_pipeline as bp
from jobs._bench_pipeline import PhasePeaks, ResourceSampler, TimedUpscaler
from rayapp.accel import optimize_for_cpu
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.models.ncnn import package_file
from rayapp.models.registry import get_spec
from rayapp.upscaler import Upscaler, cpu_has_native_bf16

OFFLINE_MODELS = ("realesr-animevideov3", "realesrgan-x4plus-anime", "realesrgan-x4plus")
# Default input (width, height) per model: the RRDB nets cost 4-12x more per pixel than
# Compact, so they get smaller frames to keep the whole run near three minutes.
DEFAULT_SIZES = {
    "realesr-animevideov3": (320, 240),
    "realesrgan-x4plus-anime": (128, 96),
    "realesrgan-x4plus": (96, 64),
}


class BenchmarkConfig(BaseModel):
    """What to measure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sections: tuple[str, ...] = Field(("forward",), description="Sections to run, in order.")
    models: tuple[str, ...] = Field(OFFLINE_MODELS, description="Offline registry models.")
    size: tuple[int, int] | None = Field(
        None, description="Input (width, height) for every model; default: per model."
    )
    frames: int = Field(3, ge=1, description="Timed frames per variant (after one warm-up).")
    threads: int = Field(2, ge=1, description="CPU threads for torch and ncnn.")
    optimise: tuple[str, ...] = Field(
        ("realesr-animevideov3",),
        description="Models to also time through rayapp.accel (compiling RRDB takes minutes).",
    )
    model: str = Field("realesr-animevideov3", description="Pipeline section: the model.")
    outscale: float = Field(2.0, gt=0, description="Pipeline section: final scale.")
    seconds: float = Field(2.0, gt=0, description="Pipeline section: short clip length.")
    long: int = Field(4, ge=1, description="Pipeline section: the long clip is this x longer.")
    fps: int = Field(24, ge=1, description="Pipeline section: clip frame rate.")
    segment_s: float = Field(1.0, gt=0, description="Pipeline section: job segment_s.")
    chunk_frames: int = Field(12, ge=1, description="Pipeline section: job chunk_frames.")
    min_replicas: int = Field(
        ReplicaConfig().min_replicas, ge=1, description="Pipeline section: replicas kept."
    )
    max_replicas: int = Field(
        ReplicaConfig().max_replicas, ge=1, description="Pipeline section: replicas at most."
    )
    bare_frames: int = Field(8, ge=1, description="Pipeline section: frames per bare pass.")


@dataclass(frozen=True)
class Variant:
    name: str
    run: Callable[[torch.Tensor], torch.Tensor]  # NCHW float [0, 1] -> NCHW float


# -- forward section --------------------------------------------------------------------


def conv_flops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """FLOPs of all Conv2d layers for input ``x``: 2*Cin/groups*Cout*kh*kw*Hout*Wout each."""
    total = 0.0

    def hook(mod: torch.nn.Conv2d, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = mod.kernel_size
        cin = mod.in_channels // mod.groups
        total += 2.0 * cin * mod.out_channels * kh * kw * out.shape[0] * out.shape[-2:].numel()

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)
    ]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 3) -> float:
    """Best of ``repeats`` timed ``torch.mm`` of two n x n matrices, in GFLOP/s."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)  # warm-up: MKL/oneDNN pick and cache their kernels here
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


def ncnn_forward(model: str, threads: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The ncnn CPU net of an offline model: NCHW float [0, 1] (N=1) -> NCHW float."""
    import ncnn  # a test extra; only this section needs it

    stem = get_spec(model).ncnn_stem
    if stem is None:
        raise ValueError(f"{model!r} has no ncnn files; use one of {', '.join(OFFLINE_MODELS)}")
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    net.load_param(str(package_file(stem, ".param")))
    net.load_model(str(package_file(stem, ".bin")))

    def run(x: torch.Tensor) -> torch.Tensor:
        ex = net.create_extractor()
        # ncnn.Mat borrows the numpy buffer: keep both alive until extract returns.
        xc = np.ascontiguousarray(x[0].numpy(), dtype=np.float32)
        mat = ncnn.Mat(xc)
        ex.input("data", mat)
        _, out = ex.extract("output")
        return torch.from_numpy(np.array(out))[None]

    return run


def forward_variants(name: str, x: torch.Tensor, cfg: BenchmarkConfig) -> list[Variant]:
    """Every way we run ``name`` on this device, plus ncnn, each a plain callable."""
    model = Upscaler.load(name, device="cpu", precision="fp32")._model
    variants = [Variant("ours (eager) fp32", model)]
    if name in cfg.optimise:
        start = time.perf_counter()
        fast = optimize_for_cpu(model, x)
        label = "ours (optimised) fp32" if fast.compiled else "ours (optimised: fell back)"
        print(f"  {name}: rayapp.accel compile {time.perf_counter() - start:.1f} s", flush=True)
        variants.append(Variant(label, fast))
    if cpu_has_native_bf16():
        bf16 = Upscaler.load(name, device="cpu", precision="bf16")
        variants.append(Variant("ours (eager) bf16", bf16._forward))
    variants.append(Variant("ncnn cpu fp32", ncnn_forward(name, cfg.threads)))
    return variants


def _time_interleaved(
    variants: Sequence[Variant], x: torch.Tensor, frames: int
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Median wall and CPU s/frame per variant, and its max abs diff to the first variant."""
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    cpu: dict[str, list[float]] = {v.name: [] for v in variants}
    diffs: dict[str, float] = {}
    with torch.inference_mode():
        ref = variants[0].run(x)
        for v in variants:  # warm-up, and the correctness check
            diffs[v.name] = (v.run(x).float() - ref).abs().max().item()
        for _ in range(frames):
            for v in variants:
                start, start_cpu = time.perf_counter(), time.process_time()
                v.run(x)
                times[v.name].append(time.perf_counter() - start)
                cpu[v.name].append(time.process_time() - start_cpu)
    wall = {k: statistics.median(t) for k, t in times.items()}
    return wall, {k: statistics.median(t) for k, t in cpu.items()}, diffs


FORWARD_HEADER = [
    "model", "input", "GFLOP", "variant", "frames/s", "s/frame", "GFLOP/s", "vs ncnn",
    "cpu-s/frame", "cpu vs ncnn", "max|d|",
]  # fmt: skip


def _forward_rows(
    name: str, cfg: BenchmarkConfig, peaks: dict[str, list[float]]
) -> list[list[str]]:
    w, h = cfg.size or DEFAULT_SIZES.get(name, (320, 240))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, h, w, generator=g).contiguous(memory_format=torch.channels_last)
    variants = forward_variants(name, x, cfg)
    gflop = conv_flops(variants[0].run, x) / 1e9  # type: ignore[arg-type]
    peaks["fp32"].append(matmul_gflops(torch.float32))
    peaks["bf16"].append(matmul_gflops(torch.bfloat16))
    wall, cpu, diffs = _time_interleaved(variants, x, cfg.frames)
    peaks["fp32"].append(matmul_gflops(torch.float32))
    ncnn = variants[-1].name
    rows = []
    for v in variants:
        s, c = wall[v.name], cpu[v.name]
        rows.append([
            name, f"{w}x{h}", f"{gflop:.1f}", v.name, f"{1 / s:.2f}", f"{s:.3f}",
            f"{gflop / s:.0f}", f"{s / wall[ncnn]:.2f}", f"{c:.3f}", f"{c / cpu[ncnn]:.2f}",
            f"{diffs[v.name]:.1e}",
        ])  # fmt: skip
    return rows


def section_forward(cfg: BenchmarkConfig) -> str:
    """The bare network per model and variant, with the matmul peak measured in between."""
    torch.set_num_threads(cfg.threads)
    peaks: dict[str, list[float]] = {"fp32": [], "bf16": []}
    rows: list[list[str]] = []
    for name in cfg.models:
        rows += _forward_rows(name, cfg, peaks)
        print(_table(FORWARD_HEADER, rows), "\n", file=sys.stderr, flush=True)  # progress
    native = cpu_has_native_bf16()
    bf16_label = "bf16" if native else "bf16 (emulated: no native bf16 on this CPU)"
    lines = [
        f"== forward: bare network, batch 1, {cfg.threads} threads, median of {cfg.frames} "
        "interleaved frames",
        "   vs ncnn = s/frame / ncnn s/frame (<1: ours faster); cpu-s = process CPU time of "
        "all threads (less hurt by other load than wall time); max|d| vs ours (eager)",
        f"   matmul peak (best torch.mm 2048^2, measured between models): fp32 "
        f"{max(peaks['fp32']):.0f} GFLOP/s, {bf16_label} {max(peaks['bf16']):.0f} GFLOP/s",
        _table(FORWARD_HEADER, rows),
    ]
    if not native:
        lines.append("bf16 rows skipped: this CPU emulates bf16 (~3x slower than fp32)")
    return "\n".join(lines)


# -- pipeline section -------------------------------------------------------------------

MIB = 1024 * 1024


@dataclass
class _Pipe:
    """One timed run of a whole video job (pipeline or sequential driver)."""

    name: str
    frames: int
    wall_s: float
    output_bytes: int
    peaks: PhasePeaks
    points: list[tuple[float, int]]  # (monotonic, frames done) per chunk at the driver
    started: float  # monotonic
    started_wall: float  # time.time(), the clock of the replicas' records
    chunks: list[dict]  # the replicas' per-chunk timing records
    ready: list[dict]  # the replicas' start-up records
    model_s: float = 0.0  # sequential driver: time inside upscale_batch


def _bare_passes(
    runners: dict[str, Callable[[np.ndarray], list[float]]],
    frames: np.ndarray,
    out: dict[str, list[list[float]]],
) -> None:
    """One pass of every runner (wall s/frame, 1 frame at a time), the first one last."""
    for label, run in reversed(runners.items()):
        out[label].append(run(frames))
    print(f"pipeline: bare passes {len(out[label])} done", file=sys.stderr, flush=True)


def _bare_runners(
    upscaler: Upscaler, total_threads: int, per_replica: int, cfg: BenchmarkConfig
) -> dict[str, Callable[[np.ndarray], list[float]]]:
    """The bare forward in this process at both thread counts (the replicas' total first:
    it is the reference), and in a Ray actor at one replica's."""
    import ray

    def in_driver(threads: int) -> Callable[[np.ndarray], list[float]]:
        def run(frames: np.ndarray) -> list[float]:
            torch.set_num_threads(threads)
            return bp.time_frames(upscaler, frames)

        return run

    # num_cpus=0: it must not take the CPUs the jobs' replicas ask for; it idles meanwhile.
    actor = ray.remote(num_cpus=0)(bp.BareForward).remote(
        UpscaleConfig(model=cfg.model, outscale=cfg.outscale), per_replica
    )
    return {
        f"bare {total_threads} thr": in_driver(total_threads),
        f"bare {per_replica} thr": in_driver(per_replica),
        f"bare {per_replica} thr, Ray actor": lambda f: ray.get(actor.run.remote(f)),
    }


def _run_job(
    name: str, clip: str, tmp: str, cfg: BenchmarkConfig, sampler: ResourceSampler
) -> _Pipe:
    from rayapp.pipeline import run_video_job

    threads = max(1, cfg.threads // cfg.max_replicas)
    job = VideoJobConfig(
        input=clip,
        output=f"{tmp}/out/{name}.mp4",
        upscale=UpscaleConfig(model=cfg.model, outscale=cfg.outscale),
        segment_s=cfg.segment_s,
        chunk_frames=cfg.chunk_frames,
        replicas=ReplicaConfig(
            min_replicas=cfg.min_replicas,
            max_replicas=cfg.max_replicas,
            threads_per_replica=threads,
        ),
        work=f"{tmp}/work",
        keep_work=False,
    )
    timings = os.environ[bp.TIMINGS_ENV]
    with bp.ProgressTimes().attached() as progress, sampler.phase() as peaks, bp.timed_stage():
        started, started_wall = time.monotonic(), time.time()
        result = run_video_job(job)
        wall = time.monotonic() - started
    records = bp.read_timings(timings)
    os.remove(timings)
    return _Pipe(
        name=name,
        frames=result.frames,
        wall_s=wall,
        output_bytes=os.path.getsize(job.output),
        peaks=peaks,
        points=progress.points,
        started=started,
        started_wall=started_wall,
        chunks=[r for r in records if r["event"] == "chunk"],
        ready=[r for r in records if r["event"] == "ready"],
    )


def _run_local(
    clip: str, tmp: str, cfg: BenchmarkConfig, upscaler: Upscaler, sampler: ResourceSampler
) -> _Pipe:
    import shutil

    from rayapp.video import upscale_video_local

    timed = TimedUpscaler(upscaler)
    out, work = f"{tmp}/out/local.mp4", f"{tmp}/work/local"
    with sampler.phase() as peaks:
        started = time.monotonic()
        result = upscale_video_local(
            clip, out, timed, segment_s=cfg.segment_s, chunk_frames=cfg.chunk_frames, work_uri=work
        )
        wall = time.monotonic() - started
    shutil.rmtree(work)  # given a work_uri the driver keeps its chunks (resume)
    return _Pipe(
        name="sequential",
        frames=result.frames,
        wall_s=wall,
        output_bytes=os.path.getsize(out),
        peaks=peaks,
        points=[],
        started=started,
        started_wall=0.0,
        chunks=[],
        ready=[],
        model_s=timed.model_s,
    )


def _start_ray(tmp: str, cfg: BenchmarkConfig) -> float:
    import ray

    from rayapp.pipeline.cluster import FORWARDED_ENV

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env[bp.TIMINGS_ENV] = os.environ[bp.TIMINGS_ENV]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    start = time.monotonic()
    ray.init(
        num_cpus=cfg.threads,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        _temp_dir=f"{tmp}/ray",
        runtime_env={"env_vars": env},
        object_spilling_directory=f"{tmp}/spill",
    )
    return time.monotonic() - start


def section_pipeline(cfg: BenchmarkConfig) -> str:
    """The video job end to end vs the bare model on the same frames, with its costs."""
    import ray

    from rayapp.sample import make_sample_video

    w, h = cfg.size or (160, 120)
    total_threads = max(1, cfg.threads // cfg.max_replicas) * cfg.max_replicas
    torch.set_num_threads(total_threads)
    with tempfile.TemporaryDirectory(prefix="rb-", dir="/tmp") as tmp:
        for d in ("clips", "out", "work", "spill"):
            os.makedirs(f"{tmp}/{d}")
        os.environ[bp.TIMINGS_ENV] = f"{tmp}/timings.jsonl"
        short = make_sample_video(
            f"{tmp}/clips/short.mp4", seconds=cfg.seconds, fps=cfg.fps, width=w, height=h
        )
        long = make_sample_video(
            f"{tmp}/clips/long.mp4", seconds=cfg.seconds * cfg.long, fps=cfg.fps, width=w, height=h
        )
        frames = bp.decode_frames(short)
        step = max(1, len(frames) // cfg.bare_frames)
        pick = frames[::step][: cfg.bare_frames]
        upscaler = Upscaler.from_config(UpscaleConfig(model=cfg.model, outscale=cfg.outscale))
        ray_init_s = _start_ray(tmp, cfg)
        per_replica = max(1, cfg.threads // cfg.max_replicas)
        runners = _bare_runners(upscaler, total_threads, per_replica, cfg)
        for run in runners.values():
            run(pick[:1])  # warm-up: oneDNN picks its kernels here; the actor starts
        bare: dict[str, list[list[float]]] = {label: [] for label in runners}
        dirs = {"work": f"{tmp}/work", "spill": f"{tmp}/spill"}
        try:
            with bp.ResourceSampler(dirs) as sampler:
                with sampler.phase() as idle:
                    _bare_passes(runners, pick, bare)
                runs = [_run_job("short", short, tmp, cfg, sampler)]
                _bare_passes(runners, pick, bare)
                runs.append(_run_local(short, tmp, cfg, upscaler, sampler))
                runs.append(_run_job("long", long, tmp, cfg, sampler))
                _bare_passes(runners, pick, bare)
        finally:
            ray.shutdown()
    return _pipeline_report(cfg, (w, h), total_threads, ray_init_s, bare, runs, idle)


def _pipeline_report(
    cfg: BenchmarkConfig,
    size: tuple[int, int],
    total_threads: int,
    ray_init_s: float,
    bare_by_label: dict[str, list[list[float]]],
    runs: list[_Pipe],
    idle: PhasePeaks,
) -> str:
    bare = next(iter(bare_by_label.values()))
    speed = _speed_rows(bare_by_label, runs, ray_init_s)
    timeline = [_timeline_row(r, ray_init_s) for r in runs if r.chunks]
    memory = _memory_rows(idle, runs)
    disk = [_disk_row(r) for r in runs]
    rep = f"{cfg.min_replicas}-{cfg.max_replicas}"
    w, h = size
    return "\n".join(
        [
            f"== pipeline: {cfg.model} x{cfg.outscale:g}, {w}x{h} @ {cfg.fps} fps, clips "
            f"{cfg.seconds:g} s and {cfg.seconds * cfg.long:g} s, segment_s {cfg.segment_s:g}, "
            f"chunk_frames {cfg.chunk_frames}; Ray num_cpus {cfg.threads}, replicas {rep} x "
            f"{max(1, cfg.threads // cfg.max_replicas)} torch thread(s)",
            f"   bare = Upscaler.upscale_batch, 1 frame at a time, in this process with "
            f"{total_threads} torch threads (= the replicas' total; 'vs bare' is against it), with "
            "one replica's, and in an idle Ray actor with one replica's; "
            f"{len(bare[0])} decoded frames of the short clip x 3 passes (before, between and "
            "after the jobs); the sequential driver uses this process's upscaler",
            _table(["run", "frames", "wall s", "fps", "vs bare", "what"], speed),
            "",
            "   where the time goes (s from the job call; replica records from TimedUpscaleEncode)",
            _table(TIMELINE_HEADER, timeline),
            "",
            "   peak memory (MiB, RSS sampled every 0.2 s; ray procs = every process under this "
            "driver; store = object store bytes in use)",
            _table(
                ["run", "driver", "ray procs", "max worker", "max replica", "store", "spilled"],
                memory,
            ),
            "",
            "   temporary disk (KiB peak, polled every 0.2 s; work = the job's work prefix, "
            "spill = Ray's spill dir)",
            _table(["run", "output", "work peak", "work/output", "spill peak", "files seen"], disk),
        ]
    )


def _row(
    name: str, frames: int, wall_s: float, fps: float, bare_fps: float, what: str
) -> list[str]:
    return [name, str(frames), f"{wall_s:.1f}", f"{fps:.2f}", f"{fps / bare_fps:.2f}", what]


def _speed_rows(
    bare_by_label: dict[str, list[list[float]]],
    runs: list[_Pipe],
    ray_init_s: float,
) -> list[list[str]]:
    fps_of = {
        k: 1 / statistics.median(x for p in passes for x in p)
        for k, passes in bare_by_label.items()
    }
    bare_fps = next(iter(fps_of.values()))
    rows = []
    for label, passes in bare_by_label.items():
        each = "/".join(f"{statistics.median(p):.3f}" for p in passes)
        frames, wall = sum(map(len, passes)), sum(map(sum, passes))
        what = f"median s/frame per pass {each}"
        rows.append(_row(label, frames, wall, fps_of[label], bare_fps, what))
    for r in runs:
        fps = r.frames / r.wall_s
        rows.append(_row(f"{r.name}: end to end", r.frames, r.wall_s, fps, bare_fps, "job call"))
        if not r.chunks:  # the sequential driver
            what = "time inside upscale_batch"
            rows.append(
                _row(f"{r.name}: model", r.frames, r.model_s, r.frames / r.model_s, bare_fps, what)
            )
            continue
        wall = r.wall_s + ray_init_s
        what = "job call + ray.init (once per process)"
        rows.append(_row(f"{r.name}: + ray.init", r.frames, wall, r.frames / wall, bare_fps, what))
        rows += _replica_rows(r, bare_fps)
    return rows


def _memory_rows(idle: PhasePeaks, runs: list[_Pipe]) -> list[list[str]]:
    keys = ("driver_rss", "ray_rss", "worker_rss", "replica_rss")
    rows = [
        [name, *(f"{getattr(p, k) / MIB:.0f}" for k in keys), f"{p.store_used / MIB:.2f}",
         f"{p.spilled / MIB:.2f}"]
        for name, p in [("idle cluster", idle), *((r.name, r.peaks) for r in runs)]
    ]  # fmt: skip
    short, long = runs[0].peaks, runs[-1].peaks
    ratios = [_ratio(getattr(long, k), getattr(short, k)) for k in (*keys, "store_used")]
    return [*rows, ["long/short", *ratios, "-"]]


def _disk_row(r: _Pipe) -> list[str]:
    work, spill = r.peaks.dirs.get("work", 0), r.peaks.dirs.get("spill", 0)
    return [
        r.name, f"{r.output_bytes / 1024:.0f}", f"{work / 1024:.0f}",
        f"{work / r.output_bytes:.2f}", f"{spill / 1024:.0f}",
        ",".join(sorted(r.peaks.suffixes)) or "-",
    ]  # fmt: skip


TIMELINE_HEADER = [
    "run", "ray.init", "replica up", "1st chunk in", "1st chunk out", "last chunk out",
    "rows at driver", "tail", "replicas", "concurrency", "chunk s/frame", "model s/frame",
    "encode+io",
]  # fmt: skip


def _replica_rows(r: _Pipe, bare_fps: float) -> list[list[str]]:
    n = len({c["pid"] for c in r.chunks})
    chunk_s = sum(c["elapsed_s"] for c in r.chunks)
    model_s = sum(c["model_s"] for c in r.chunks)
    rows = []
    steady = bp.steady_fps(r.chunks)
    if steady is not None:
        fps, frames, span = steady
        rows.append(
            [f"{r.name}: steady", str(frames), f"{span:.1f}", f"{fps:.2f}",
             f"{fps / bare_fps:.2f}", "replicas' chunk ends, after the first chunk"]
        )  # fmt: skip
    for label, total, what in (
        ("replicas busy", chunk_s, "chunk elapsed_s"),
        ("replicas model", model_s, "upscale_batch in replicas"),
    ):
        fps = n * r.frames / total
        rows.append(
            [f"{r.name}: {label}", str(r.frames), f"{total:.1f}", f"{fps:.2f}",
             f"{fps / bare_fps:.2f}", f"{n} x frames / sum of {what}"]
        )  # fmt: skip
    return rows


def _timeline_row(r: _Pipe, ray_init_s: float) -> list[str]:
    """Seconds since the job call; the replicas' records carry wall-clock times."""
    up = f"{min(x['end'] for x in r.ready) - r.started_wall:.1f}" if r.ready else "-"
    n = len({c["pid"] for c in r.chunks})
    chunk_s = sum(c["elapsed_s"] for c in r.chunks)
    model_s = sum(c["model_s"] for c in r.chunks)
    first_in = min(c["start"] for c in r.chunks) - r.started_wall
    first_out = min(c["end"] for c in r.chunks) - r.started_wall
    last_out = max(c["end"] for c in r.chunks) - r.started_wall
    at_driver = r.points[-1][0] - r.started
    return [
        r.name, f"{ray_init_s:.1f}", up, f"{first_in:.1f}", f"{first_out:.1f}",
        f"{last_out:.1f}", f"{at_driver:.1f}", f"{r.wall_s - at_driver:.1f}", str(n),
        f"{chunk_s / (last_out - first_in):.2f}", f"{chunk_s / r.frames:.3f}",
        f"{model_s / r.frames:.3f}", f"{100 * (1 - model_s / chunk_s):.0f}%",
    ]  # fmt: skip


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


SECTIONS: dict[str, Callable[[BenchmarkConfig], str]] = {
    "forward": section_forward,
    "pipeline": section_pipeline,
}


# -- entry point ------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i in (0, 1, 3) else '>'}{w}}}" for i, w in enumerate(widths))
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt.format(*header), rule, *(fmt.format(*r) for r in rows)])


PIPELINE_FLAGS = {
    "model": str, "outscale": float, "seconds": float, "long": int, "fps": int,
    "segment_s": float, "chunk_frames": int, "min_replicas": int, "max_replicas": int,
    "bare_frames": int,
}  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> BenchmarkConfig:
    p = argparse.ArgumentParser(prog="python -m jobs.benchmark", description=__doc__.split("\n")[0])
    p.add_argument("--section", default="forward", help=f"comma list of {', '.join(SECTIONS)}")
    p.add_argument("--models", default=",".join(OFFLINE_MODELS), help="comma list")
    p.add_argument("--size", default=None, help="WxH for every model, e.g. 320x240")
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument(
        "--optimise",
        default=OFFLINE_MODELS[0],
        help="comma list of models to also run compiled by rayapp.accel, 'all' or 'none'",
    )
    d = BenchmarkConfig.model_fields
    for flag, kind in PIPELINE_FLAGS.items():
        p.add_argument(
            f"--{flag.replace('_', '-')}",
            type=kind,
            default=d[flag].default,
            help=f"{d[flag].description} (default {d[flag].default})",
        )
    a = p.parse_args(argv)
    sections = tuple(s for s in a.section.split(",") if s)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section {unknown[0]!r}. Available: {', '.join(sorted(SECTIONS))}")
    size = None
    if a.size:
        try:
            w, h = (int(v) for v in a.size.lower().split("x"))
        except ValueError:
            p.error(f"--size must be WxH like 320x240, got {a.size!r}")
        size = (w, h)
    return BenchmarkConfig(
        sections=sections,
        models=tuple(m for m in a.models.split(",") if m),
        size=size,
        frames=a.frames,
        threads=a.threads,
        optimise=_names(a.optimise, a.models),
        **{k: getattr(a, k) for k in PIPELINE_FLAGS},
    )


def _names(value: str, models: str) -> tuple[str, ...]:
    if value == "all":
        value = models
    return tuple(m for m in value.split(",") if m and m != "none")


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    for section in cfg.sections:
        print(SECTIONS[section](cfg), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
