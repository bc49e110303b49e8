"""The compiled CPU forward equals the eager model on several sizes and from many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from spandrel.architectures.Compact import Compact

from rayapp._inductor import TOLERANCE, CompiledForward, optimize_for_cpu


def _image(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    """NCHW float in [0, 1], channels_last as the Upscaler passes it."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, generator=g).contiguous(memory_format=torch.channels_last)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    """A small Compact net (same ops as realesr-animevideov3) with non-trivial weights."""
    torch.manual_seed(0)
    net = Compact(num_feat=16, num_conv=4, upscale=4, act_type="prelu").eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return net.to(memory_format=torch.channels_last)


@pytest.fixture(scope="module")
def fast(model: torch.nn.Module) -> CompiledForward:
    return optimize_for_cpu(model, _image(1, 24, 32, seed=1))


def _eager(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x)


def _run(fast: CompiledForward, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return fast(x)


def test_compiles_on_cpu_fp32(fast: CompiledForward) -> None:
    assert fast.compiled


def _check(fast: CompiledForward, model: torch.nn.Module, n: int, h: int, w: int) -> None:
    x = _image(n, h, w, seed=h * w)
    got, want = _run(fast, x), _eager(model, x)
    assert got.shape == want.shape == (n, 3, 4 * h, 4 * w)
    assert (got - want).abs().max().item() <= TOLERANCE
    assert fast.compiled  # the new size did not push it onto the eager fallback


@pytest.mark.parametrize(("h", "w"), [(24, 32), (37, 21)])
def test_matches_eager(fast: CompiledForward, model: torch.nn.Module, h: int, w: int) -> None:
    _check(fast, model, 1, h, w)


@pytest.mark.slow  # a second graph (batch > 1) compiles: ~15 s more
def test_matches_eager_batch_of_two(fast: CompiledForward, model: torch.nn.Module) -> None:
    _check(fast, model, 2, 16, 40)


def test_concurrent_calls_from_four_threads(fast: CompiledForward, model: torch.nn.Module):
    inputs = [_image(1, 20 + 4 * i, 28 - 2 * i, seed=100 + i) for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(pool.map(lambda x: _run(fast, x), inputs))
    for x, got in zip(inputs, outs, strict=True):
        assert (got - _eager(model, x)).abs().max().item() <= TOLERANCE


def test_non_fp32_stays_eager(model: torch.nn.Module) -> None:
    fwd = optimize_for_cpu(model, _image(1, 8, 8, seed=2).double())
    assert not fwd.compiled
    x = _image(1, 8, 8, seed=3)
    assert torch.equal(_run(fwd, x), _eager(model, x))
