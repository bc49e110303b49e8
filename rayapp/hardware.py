"""What this machine computes natively, and the device and precision a model runs in.

``precision="auto"`` follows the hardware, read from it, never assumed:
- CUDA: fp16 where the architecture allows it (else fp32);
- a CPU with native bf16 (x86 ``avx512_bf16`` or AMX ``amx_bf16``, Arm ``bf16``) and
  oneDNN to use it: bf16 (autocast: convolutions in bf16, the rest in fp32), about twice
  fp32's speed and within ~50 dB PSNR of it on our models;
- any other CPU: fp32 (bf16 there is emulated, about 3x slower than fp32).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Set
from typing import TYPE_CHECKING

from rayapp.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["cpu_flags", "cpu_has_native_bf16", "resolve_device", "resolve_precision"]

log = logging.getLogger(__name__)

_NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the kernel reports them (/proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            return frozenset(
                w for line in f if line.startswith(("flags", "Features")) for w in line.split()
            )
    except OSError:
        return frozenset()


def cpu_has_native_bf16(flags: Set[str] | None = None) -> bool:
    """True when the CPU computes bf16 natively and torch's oneDNN can use it.
    ``flags``: the CPU's flags (default: this machine's)."""
    import torch  # asked only when a model is about to run

    flags = cpu_flags() if flags is None else flags
    return bool(flags & _NATIVE_BF16_FLAGS) and torch.backends.mkldnn.is_available()


def resolve_device(device: str) -> torch.device:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested, but CUDA is not available here")
    return torch.device(device)


def resolve_precision(
    precision: str,
    device: torch.device,
    *,
    supports_half: bool,
    supports_bf16: bool,
    flags: Set[str] | None = None,
) -> str:
    """The precision to run in: ``precision`` checked, or for ``auto`` the fastest one this
    device computes natively (module docstring). ``flags``: the CPU's (default: this one's)."""
    if precision == "auto":
        if device.type == "cuda":
            return "fp16" if supports_half else "fp32"
        return "bf16" if supports_bf16 and cpu_has_native_bf16(flags) else "fp32"
    if precision == "fp16" and not supports_half:
        raise ConfigError("this architecture does not support fp16; use fp32 or bf16")
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("fp16 is for CUDA; on CPU use bf16 (where the CPU has it) or fp32")
    if precision == "bf16" and not supports_bf16:
        raise ConfigError("this architecture does not support bf16; use fp32")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16(flags):
        log.warning("this CPU has no native bf16 (avx512_bf16/amx): bf16 is emulated and slow")
    return precision
