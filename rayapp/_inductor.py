"""A faster fp32 CPU forward: the network compiled once by TorchInductor, weights frozen.

Why it is faster: eager PyTorch runs every conv through oneDNN with the weights reordered
on each call and every PReLU/add/pixel-shuffle as its own pass over the activations.
Inductor with ``freezing`` turns the weights into constants, prepacks them once into
oneDNN's blocked layout (``mkldnn._convolution_pointwise``) and fuses the pointwise tails.
The convs are still oneDNN fp32 (no TF32, no bf16 math), so outputs match eager exactly
on our models. The gain is modest (~5-10 % per CPU-second on Compact): the convs are
~88 % of the time and already near this CPU's matmul peak.

Contracts:
- input: ``NCHW`` float32 on CPU in [0, 1] (channels_last or contiguous), any N, H, W.
- output: exactly what ``model(x)`` returns.

Shapes: compiled with dynamic H and W, so a new frame or tile size reuses the compiled
graph. Batch size 1 and >1 are two graphs: the one of ``example`` is compiled (frozen) at
load; the other compiles on first use, without freezing (same results, a little slower),
because ``freezing`` is an Inductor global that we set only around the load-time compile.
If the compiler fails, at load or later, calls fall back to the eager model for good.

Compile time grows with depth: Compact (16 convs) ~6 s with a warm Inductor disk cache,
~45 s cold on two busy cores; RRDB nets take minutes (6 blocks ~2 min), so callers
should enable this per model.

Threads: calls need no lock; Dynamo serialises any (re)compilation behind its own lock,
and the compiled graph keeps all state in locals, so concurrent calls are safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import torch
from torch._dynamo.exc import TorchDynamoException
from torch._inductor import config as inductor_config
from torch._inductor.exc import InductorError

__all__ = ["CompiledForward", "optimize_for_cpu", "TOLERANCE"]

log = logging.getLogger(__name__)

TOLERANCE = 1e-3
"""Largest max-abs difference to the eager model (outputs in [0, 1]) we accept."""

_COMPILER_ERRORS = (TorchDynamoException, InductorError)

Forward = Callable[[torch.Tensor], torch.Tensor]


class CompiledForward:
    """``model(x)`` through an Inductor-compiled graph, with the eager model as fallback."""

    def __init__(self, model: torch.nn.Module, compiled: Forward | None) -> None:
        self._model = model
        self._compiled = compiled
        self._lock = threading.Lock()

    @property
    def compiled(self) -> bool:
        """True while calls go through the compiled graph."""
        return self._compiled is not None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        compiled = self._compiled  # one read: another thread may drop it meanwhile
        if compiled is None:
            return self._model(x)
        try:
            return compiled(x)
        except _COMPILER_ERRORS:
            self._disable(f"compiling for input {tuple(x.shape)} failed")
            return self._model(x)

    def _disable(self, reason: str) -> None:
        with self._lock:
            if self._compiled is not None:
                log.warning("accel: %s; using the eager model from now on", reason, exc_info=True)
                self._compiled = None


def optimize_for_cpu(model: torch.nn.Module, example: torch.Tensor) -> CompiledForward:
    """Compile ``model`` (eval mode, fp32, CPU) once and check it on ``example``.

    ``example``: ``NCHW`` float32 in [0, 1], a typical input (its size only picks the first
    specialisation; other sizes are handled dynamically). Compiling takes ~15-60 s on two
    cores the first time (Inductor caches kernels on disk, so later processes take less).
    Call it once per model at load time, from one thread. Falls back to the eager model
    when the input or weights are not fp32 on CPU, when compiling fails, or when the
    compiled output differs from eager by more than ``TOLERANCE``.
    """
    if example.device.type != "cpu" or example.dtype != torch.float32:
        log.info("accel: %s %s input is not fp32 CPU; eager", example.device, example.dtype)
        return CompiledForward(model, None)
    if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in model.parameters()):
        log.info("accel: model weights are not fp32 CPU; eager")
        return CompiledForward(model, None)
    model = model.eval()
    compiled = torch.compile(model, dynamic=True)
    start = time.perf_counter()
    try:
        # Dynamo reads ``freezing`` while tracing, so torch.compile(options={"freezing":
        # True}) does not freeze (the convs stay unpacked): patch it around the first call.
        with torch.inference_mode(), inductor_config.patch(freezing=True):
            got = compiled(example)
        with torch.inference_mode():
            want = model(example)
    except _COMPILER_ERRORS:
        # A speed-up, not a requirement: a missing C++ compiler must not stop a replica.
        log.warning("accel: compiling %s failed; eager", type(model).__name__, exc_info=True)
        return CompiledForward(model, None)
    diff = (got.float() - want.float()).abs().max().item()
    if not diff <= TOLERANCE:
        log.warning("accel: compiled output differs by %.3g > %g; eager", diff, TOLERANCE)
        return CompiledForward(model, None)
    log.info(
        "accel: compiled %s in %.1f s (max abs diff %.2g)",
        type(model).__name__,
        time.perf_counter() - start,
        diff,
    )
    return CompiledForward(model, compiled)
