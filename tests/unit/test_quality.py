"""rayapp.quality against scikit-image's own PSNR and SSIM on the same arrays, to 1e-3, and
against torchmetrics' (whose computation PSNR and SSIM write out) to 1e-5 dB and 1e-6."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from rayapp import quality
from rayapp.errors import ConfigError, InputImageError
from tests.unit.test_models_reference import photo


def _pair(dtype: type = np.uint8, noise: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two crops of a real photograph, the second with noise (NHWC, N=2)."""
    rng = np.random.default_rng(seed)
    a = np.stack([photo(64, 48), photo(64, 48)[::-1].copy()]).astype(np.int64)
    if dtype == np.uint16:
        a *= 257
        noise *= 257
    peak = np.iinfo(dtype).max
    b = np.clip(a + rng.integers(-noise, noise + 1, a.shape), 0, peak)
    return a.astype(dtype), b.astype(dtype)


def _sk_ssim(x: np.ndarray, y: np.ndarray, peak: float, channel_axis: int | None) -> float:
    return sk_ssim(
        x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=peak,
        channel_axis=channel_axis,
    )  # fmt: skip


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_psnr_and_ssim_match_scikit_image(dtype: type) -> None:
    a, b = _pair(dtype)
    peak = float(np.iinfo(dtype).max)
    np.testing.assert_allclose(
        quality.psnr(a, b),
        [sk_psnr(x, y, data_range=peak) for x, y in zip(a, b, strict=True)],
        atol=1e-3,
    )
    np.testing.assert_allclose(
        quality.ssim(a, b), [_sk_ssim(x, y, peak, -1) for x, y in zip(a, b, strict=True)], atol=1e-3
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channel", ["rgb", "y"])
def test_psnr_and_ssim_are_torchmetrics_values(dtype: type, channel: str) -> None:
    from torchmetrics.functional.image import (
        peak_signal_noise_ratio,
        structural_similarity_index_measure,
    )

    a, b = _pair(dtype, noise=40)
    x, y, peak = quality._pair(a, b, channel)
    theirs = peak_signal_noise_ratio(x, y, data_range=peak, reduction="none", dim=(1, 2, 3))
    np.testing.assert_allclose(quality.psnr(a, b, channel=channel), theirs.numpy(), atol=1e-5)
    x, y, _ = quality._pair(a, b, channel, unit=True)
    # Against torchmetrics in float64: ours, in float32 with the window split into a row
    # and a column, is as near to it (2e-6 here) as torchmetrics' own float32 (3e-6).
    _, full = structural_similarity_index_measure(
        x.double(), y.double(), data_range=1.0, gaussian_kernel=True, sigma=1.5,
        kernel_size=11, reduction="none", return_full_image=True,
    )  # fmt: skip
    theirs = full[..., 5:-5, 5:-5].mean(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(quality.ssim(a, b, channel=channel), theirs, atol=5e-6)


def test_measuring_a_frame_does_not_load_torchmetrics() -> None:
    code = (
        "import sys, numpy as np; from rayapp import quality; a = np.zeros((1, 16, 16, 3), "
        "np.uint8); quality.psnr(a, a + 1); quality.ssim(a, a + 1); "
        "print('torchmetrics' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_luma_measures_match_scikit_image_on_bt601_y() -> None:
    a, b = _pair()
    ya, yb = quality.luma(a), quality.luma(b)
    # BT.601 studio-range Y as super-resolution papers compute it (BasicSR's rgb2ycbcr).
    r, g, bl = (a[..., k].astype(np.float64) / 255 for k in range(3))
    np.testing.assert_allclose(ya, 16 + 65.481 * r + 128.553 * g + 24.966 * bl, atol=1e-9)
    np.testing.assert_allclose(
        quality.psnr(a, b, channel="y"),
        [sk_psnr(x, y, data_range=255.0) for x, y in zip(ya, yb, strict=True)],
        atol=1e-3,
    )
    np.testing.assert_allclose(
        quality.ssim(a, b, channel="y"),
        [_sk_ssim(x, y, 255.0, None) for x, y in zip(ya, yb, strict=True)],
        atol=1e-3,
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgb_psnr_is_the_float64_definition_to_the_last_bit(dtype: type) -> None:
    """RGB PSNR sums its squared errors in whole numbers: exactly the float64 value (whose
    sum of these squares is exact too), also at the extremes of the range."""
    a, b = _pair(dtype, noise=40)
    peak = float(np.iinfo(dtype).max)
    b[0, :4] = 0
    a[0, :4] = peak  # the largest error there is
    mse = ((a.astype(np.float64) - b) ** 2).reshape(len(a), -1).mean(axis=1)
    assert np.array_equal(quality.psnr(a, b), 10 * np.log10(peak**2 / mse))
    with pytest.raises(InputImageError, match="one shape and dtype"):
        quality.psnr(a, b[:, 1:])
    with pytest.raises(InputImageError, match="uint8 or uint16"):
        quality.psnr(a.astype(np.float32), b.astype(np.float32))


def test_known_values() -> None:
    a, b = _pair()
    assert np.all(np.isinf(quality.psnr(a, a)))
    np.testing.assert_allclose(quality.ssim(a, a), [1.0, 1.0], atol=1e-9)
    worse = _pair(noise=40)[1]
    assert np.all(quality.psnr(a, worse) < quality.psnr(a, b))
    assert np.all(quality.ssim(a, worse) < quality.ssim(a, b))
    one = quality.psnr(a[0], b[0])  # one HWC image: one value
    assert one.shape == (1,) and one[0] == pytest.approx(quality.psnr(a, b)[0])


def test_ms_ssim_ranks_and_needs_161_pixels() -> None:
    big = np.stack([np.tile(photo(96, 96), (2, 2, 1))])  # 192x192
    rng = np.random.default_rng(1)
    noisy = [np.clip(big + rng.integers(-n, n + 1, big.shape), 0, 255).astype(np.uint8)
             for n in (5, 30)]  # fmt: skip
    mild, strong = (quality.ms_ssim(big, x)[0] for x in noisy)
    assert quality.ms_ssim(big, big)[0] == pytest.approx(1.0, abs=1e-6)
    assert 1.0 > mild > strong > 0.0
    with pytest.raises(InputImageError, match="161 pixels"):
        quality.ms_ssim(*_pair())


def test_mismatched_arrays_and_missing_extra_are_clear_errors() -> None:
    a, b = _pair()
    with pytest.raises(InputImageError, match="one shape and dtype"):
        quality.psnr(a, b[:, :10])
    try:
        import pyiqa  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"pip install 'rayapp\[iqa\]'"):
            quality.perceptual(a, b, metric="lpips")


def test_ssim_batches_many_frames_in_bounded_memory() -> None:
    """32 VGA frames, as a video job's certificate samples them: as float64 convolutions
    this took 44 GB; batched float32 it stays under 2.5 GB, and equals per-frame SSIM. The
    peak is the process's own (VmHWM): ``ru_maxrss`` keeps across exec the resident size
    of the process it was forked from (a test worker that had loaded networks: 2.5 GB)."""
    code = """
import numpy as np
from rayapp import quality
rng = np.random.default_rng(0)
a = rng.integers(0, 256, (32, 480, 640, 3), dtype=np.uint8)
b = np.clip(a.astype(np.int16) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
many = quality.ssim(a, b)
one_by_one = np.concatenate([quality.ssim(a[i], b[i]) for i in (0, 13, 31)])
np.testing.assert_allclose(many[[0, 13, 31]], one_by_one, atol=1e-6)
assert many.shape == (32,) and np.all((0.5 < many) & (many < 1.0)), many
status = open("/proc/self/status").read().splitlines()
print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) // 1024)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    peak_mib = int(out.stdout.split()[-1])
    assert peak_mib < 2560, f"ssim of 32 VGA frames peaked at {peak_mib} MiB"
