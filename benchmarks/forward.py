"""The benchmark's ``forward`` section: the bare network per model and variant (ours eager,
compiled, bf16, and ncnn) next to this machine's matmul peak. Ours is ``Upscaler.forward``."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from benchmarks.config import BenchmarkConfig
from benchmarks.table import table
from rayapp.hardware import cpu_has_native_bf16
from rayapp.models import get_spec
from rayapp.upscaler import Upscaler

# Default input (width, height) per model: the RRDB nets cost 4-12x more per pixel than
# Compact, so they get smaller frames to keep the whole run near three minutes.
DEFAULT_SIZES = {
    "realesr-animevideov3": (320, 240),
    "realesrgan-x4plus-anime": (128, 96),
    "realesrgan-x4plus": (96, 64),
}


@dataclass(frozen=True)
class Variant:
    name: str
    run: Callable[[torch.Tensor], torch.Tensor]  # NCHW float [0, 1] -> NCHW float


def forward_flops(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """FLOPs of one ``forward(x)`` as torch counts them (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        forward(x)
    return float(counter.get_total_flops())


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

    param, bin_ = get_spec(model).ncnn_files()
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    net.load_param(str(param))
    net.load_model(str(bin_))

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
    eager = Upscaler.load(name, device="cpu", precision="fp32")
    variants = [Variant("ours (eager) fp32", eager.forward)]
    if name in cfg.optimise:
        start = time.perf_counter()
        fast = Upscaler.load(name, device="cpu", precision="fp32", compile=True)
        label = "ours (compiled) fp32" if fast.compiled else "ours (compiled: fell back)"
        print(f"  {name}: load with compile {time.perf_counter() - start:.1f} s", flush=True)
        variants.append(Variant(label, fast.forward))
    if cpu_has_native_bf16():
        bf16 = Upscaler.load(name, device="cpu", precision="bf16")
        variants.append(Variant("ours (eager) bf16", bf16.forward))
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
    w, h = cfg.size_wh(DEFAULT_SIZES.get(name, (320, 240)))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, h, w, generator=g).contiguous(memory_format=torch.channels_last)
    variants = forward_variants(name, x, cfg)
    gflop = forward_flops(variants[0].run, x) / 1e9
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
        print(table(FORWARD_HEADER, rows), "\n", file=sys.stderr, flush=True)  # progress
    native = cpu_has_native_bf16()
    bf16_label = "bf16" if native else "bf16 (emulated: no native bf16 on this CPU)"
    lines = [
        f"== forward: bare network, batch 1, {cfg.threads} threads, median of {cfg.frames} "
        "interleaved frames",
        "   vs ncnn = s/frame / ncnn s/frame (<1: ours faster); cpu-s = process CPU time of "
        "all threads (less hurt by other load than wall time); max|d| vs ours (eager)",
        f"   matmul peak (best torch.mm 2048^2, measured between models): fp32 "
        f"{max(peaks['fp32']):.0f} GFLOP/s, {bf16_label} {max(peaks['bf16']):.0f} GFLOP/s",
        table(FORWARD_HEADER, rows),
    ]
    if not native:
        lines.append("bf16 rows skipped: this CPU emulates bf16 (~3x slower than fp32)")
    return "\n".join(lines)
