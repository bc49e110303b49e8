"""The Upscaler: tiling, exact output sizes, channel layouts, bit depths, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from rayapp.errors import ConfigError, InputImageError
from rayapp.hardware import cpu_has_native_bf16
from rayapp.testing.metrics import psnr
from rayapp.upscaler import Upscaler
from tests.unit.test_models_reference import photo


@pytest.fixture(scope="module")
def compact() -> Upscaler:
    return Upscaler.load("realesr-animevideov3", device="cpu", precision="fp32")


def test_tiled_matches_untiled(compact: Upscaler) -> None:
    image = photo(112, 88)
    tiled = Upscaler.load("realesr-animevideov3", tile=40, tile_overlap=16, precision="fp32")
    whole = compact.upscale(image)
    out = tiled.upscale(image)
    assert out.shape == whole.shape == (352, 448, 3)
    assert psnr(out, whole) >= 45.0


def test_tiles_cover_odd_sizes_exactly(compact: Upscaler) -> None:
    image = photo(37, 29)
    tiled = Upscaler.load("realesr-animevideov3", tile=16, tile_overlap=8, precision="fp32")
    out = tiled.upscale(image)
    assert out.shape == (116, 148, 3)
    assert psnr(out, compact.upscale(image)) >= 35.0  # tiles smaller than the receptive field


@pytest.mark.parametrize(
    ("outscale", "expected"), [(1.5, (44, 56)), (2, (58, 74)), (3, (87, 111)), (4, (116, 148))]
)
def test_outscale_gives_exact_sizes(outscale: float, expected: tuple[int, int]) -> None:
    image = photo(37, 29)
    up = Upscaler.load("realesr-animevideov3", outscale=outscale)
    assert up.output_size(29, 37) == expected
    assert up.upscale(image).shape == (*expected, 3)


def test_outscale_between_native_and_resize(compact: Upscaler) -> None:
    """outscale=2 equals the x4 result downscaled: close to a plain resize of it."""
    image = photo(40, 32)
    x2 = Upscaler.load("realesr-animevideov3", outscale=2, precision="fp32").upscale(image)
    x4 = compact.upscale(image).astype(np.float32)
    box = x4.reshape(64, 2, 80, 2, 3).mean(axis=(1, 3))
    assert psnr(x2, np.round(box).astype(np.uint8)) >= 35.0


def test_rgba_upscales_alpha_separately(compact: Upscaler) -> None:
    rgb = photo(24, 20)
    alpha = np.zeros((20, 24), np.uint8)
    alpha[5:15, 6:18] = 255
    out = compact.upscale(np.dstack([rgb, alpha]))
    assert out.shape == (80, 96, 4)
    np.testing.assert_array_equal(out[:, :, :3], compact.upscale(rgb))
    # the alpha plane is the model's upscale of the mask: opaque inside, clear outside
    assert out[30:50, 30:60, 3].min() >= 250
    assert out[:10, :, 3].max() <= 5


def test_opaque_alpha_stays_opaque(compact: Upscaler) -> None:
    rgba = np.dstack([photo(16, 12), np.full((12, 16), 255, np.uint8)])
    out = compact.upscale(rgba)
    assert out.shape == (48, 64, 4)
    assert (out[:, :, 3] == 255).all()


def test_gray_in_gray_out(compact: Upscaler) -> None:
    gray = photo(24, 20)[:, :, 1]
    out = compact.upscale(gray)
    assert out.shape == (80, 96) and out.dtype == np.uint8
    rgb_out = compact.upscale(np.repeat(gray[:, :, None], 3, axis=2)).astype(np.float32)
    np.testing.assert_array_equal(out, np.round(rgb_out.mean(axis=2)).astype(np.uint8))
    assert compact.upscale(gray[:, :, None]).shape == (80, 96, 1)


def test_sixteen_bit_keeps_sixteen_bits(compact: Upscaler) -> None:
    image8 = photo(24, 20)
    image16 = image8.astype(np.uint16) * 257  # the same picture on the 16-bit scale
    out16 = compact.upscale(image16)
    out8 = compact.upscale(image8)
    assert out16.dtype == np.uint16 and out16.shape == (80, 96, 3)
    assert psnr(out16, out8.astype(np.uint16) * 257) >= 45.0
    # real 16-bit precision: values that are not multiples of 257 appear
    assert np.count_nonzero(out16 % 257) > out16.size // 2


def test_concurrent_calls_match_sequential(compact: Upscaler) -> None:
    images = [photo(20 + 4 * i, 16 + 2 * i) for i in range(8)]
    sequential = [compact.upscale(im) for im in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(compact.upscale, images))
    for a, b in zip(sequential, concurrent, strict=True):
        np.testing.assert_array_equal(a, b)


def test_batch_equals_single_frames(compact: Upscaler) -> None:
    frames = np.stack([photo(24, 20), photo(24, 20)[::-1].copy()])
    batch = compact.upscale_batch(frames)
    for i in range(2):
        np.testing.assert_array_equal(batch[i], compact.upscale(frames[i]))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4, 3), np.float32),
        np.zeros((0, 4, 3), np.uint8),
        np.zeros((2, 4, 4, 3, 1), np.uint8),
    ],
)
def test_bad_layouts_are_refused(compact: Upscaler, bad: np.ndarray) -> None:
    with pytest.raises(InputImageError):
        compact.upscale(bad)


def test_impossible_device_and_precision() -> None:
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            Upscaler.load("realesr-animevideov3", device="cuda")
    with pytest.raises(ConfigError, match="fp16 is for CUDA"):
        Upscaler.load("realesr-animevideov3", device="cpu", precision="fp16")


def test_bf16_close_to_fp32(compact: Upscaler) -> None:
    image = photo(24, 20)
    bf16 = Upscaler.load("realesr-animevideov3", precision="bf16").upscale(image)
    assert psnr(bf16, compact.upscale(image)) >= 35.0


@pytest.mark.slow
@pytest.mark.skipif(
    not cpu_has_native_bf16(),
    reason="this CPU has no native bf16 (avx512_bf16, amx_bf16): auto is fp32 here",
)
@pytest.mark.parametrize(
    ("model", "size"),
    [
        ("realesr-animevideov3", (160, 120)),
        ("realesrgan-x4plus-anime", (96, 72)),
        ("realesrgan-x4plus", (64, 48)),
    ],
)
def test_auto_precision_is_bf16_here_and_within_45_db_of_fp32(
    model: str, size: tuple[int, int]
) -> None:
    """On a CPU with native bf16, auto runs bf16: on a real photograph it stays within
    45 dB PSNR of fp32 for every offline model."""
    image = photo(*size)
    auto = Upscaler.load(model, device="cpu")
    assert auto.precision == "bf16"
    fp32 = Upscaler.load(model, device="cpu", precision="fp32").upscale(image)
    assert psnr(auto.upscale(image), fp32) >= 45.0


@pytest.mark.slow
def test_compiled_forward_gives_the_same_pixels(compact: Upscaler) -> None:
    fast = Upscaler.load("realesr-animevideov3", compile=True, precision="fp32")
    assert fast.compiled
    for size in ((24, 20), (37, 29)):
        image = photo(*size)
        np.testing.assert_array_equal(fast.upscale(image), compact.upscale(image))
