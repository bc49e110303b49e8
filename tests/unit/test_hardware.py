"""precision="auto" follows the hardware: read from this CPU's flags, and for the other
branches from flag sets and devices given explicitly (nothing is mocked)."""

from __future__ import annotations

import pytest
import torch

from rayapp.hardware import cpu_flags, cpu_has_native_bf16, resolve_precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
BOTH = {"supports_half": True, "supports_bf16": True}

# What two machines of this kind reported: one with native bf16, one without.
WITH_BF16 = frozenset({"avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"})
WITHOUT_BF16 = frozenset({"avx2", "fma", "avx512f", "avx512_vnni"})


def test_auto_on_this_machines_cpu_follows_its_flags() -> None:
    native = bool(cpu_flags() & {"avx512_bf16", "amx_bf16", "bf16"})
    assert cpu_has_native_bf16() == (native and torch.backends.mkldnn.is_available())
    assert resolve_precision("auto", CPU, **BOTH) == ("bf16" if cpu_has_native_bf16() else "fp32")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (WITH_BF16, "bf16"),
        (WITHOUT_BF16, "fp32"),
        (frozenset({"amx_bf16", "amx_tile"}), "bf16"),  # Sapphire Rapids' AMX
        (frozenset({"fp", "asimd", "bf16"}), "bf16"),  # Arm (Graviton 3) "Features"
        (frozenset(), "fp32"),  # no /proc/cpuinfo
    ],
)
def test_auto_on_other_cpus(flags: frozenset[str], expected: str) -> None:
    assert resolve_precision("auto", CPU, **BOTH, flags=flags) == expected


def test_auto_without_bf16_support_in_the_architecture_is_fp32() -> None:
    options = {"supports_half": True, "supports_bf16": False}
    assert resolve_precision("auto", CPU, **options, flags=WITH_BF16) == "fp32"


def test_auto_on_cuda_is_fp16_where_the_architecture_allows() -> None:
    assert resolve_precision("auto", CUDA, **BOTH) == "fp16"
    assert resolve_precision("auto", CUDA, supports_half=False, supports_bf16=True) == "fp32"


def test_explicit_precisions_are_kept_or_refused() -> None:
    assert resolve_precision("fp32", CPU, **BOTH, flags=WITH_BF16) == "fp32"
    assert resolve_precision("bf16", CPU, **BOTH, flags=WITHOUT_BF16) == "bf16"  # slow, warned
    with pytest.raises(ValueError, match="fp16 is for CUDA"):
        resolve_precision("fp16", CPU, **BOTH)
