"""Image quality on frame arrays: full-reference PSNR, SSIM and MS-SSIM, on RGB or on luma.

Arrays are ``NHWC`` (or one ``HWC`` image), ``uint8`` or ``uint16``, the two of a pair the
same shape and dtype; every measure returns one value per image (``float64[N]``). The
computations are torchmetrics' (kept by the Lightning team, checked against scikit-image):
PSNR and SSIM written out here in torch as torchmetrics computes them (SSIM's Gaussian
window as a row then a column; a test holds both to its values), so that measuring a frame
does not import torchmetrics (seconds); MS-SSIM its own.
PSNR runs on float64 pixels in [0, peak], the peak 255 or 65535 (``peak``: the one rule of
a full pixel); on RGB its squared errors are summed in whole numbers, which is the same
float64 value, exactly. SSIM and MS-SSIM run on float32 pixels divided by the peak (their
Gaussian windows as float64 convolutions take 121 times the image's memory), a megapixel at
a time; they stay within 1e-4 of the float64 values:

- **PSNR** (dB): ``10 log10(peak^2 / MSE)``, the MSE over every pixel and channel of one
  image; ``inf`` for identical images.
- **SSIM** (Wang et al. 2004): the mean over the image and its channels of
  ``(2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``, the
  local statistics under an 11x11 Gaussian window (sigma 1.5), ``C1 = (0.01 peak)^2``,
  ``C2 = (0.03 peak)^2``, averaged where the window lies inside the image (5 pixels in from
  each edge), as Wang's own code and scikit-image do. 1 for identical images.
- **MS-SSIM** (Wang et al. 2003): SSIM's contrast-structure term at 5 scales (halving each
  time) and its luminance term at the coarsest, weighted 0.0448, 0.2856, 0.3001, 0.2363,
  0.1333. Needs at least 161 pixels a side.
- **combing**: the share of pixels (0-1) whose row differs from *both* rows around it by
  more than 10 (0-255 luma), in the same direction: where two fields taken at different
  times are woven into one frame, a moving edge shows as such teeth; a progressive frame
  has them only at one-line detail. Measure it at the source's height (an upscale spreads
  each tooth over several rows).
- ``channel="y"``: on luma instead of RGB, as super-resolution papers report it (BasicSR's
  ``test_y_channel``): ITU-R BT.601 studio-range Y, ``16 + (65.481 R + 128.553 G + 24.966 B)``
  with R, G, B in [0, 1], on the 0-255 scale (0-65535 for uint16: x 257).

Perceptual and no-reference measures (LPIPS, NIQE, MUSIQ) come from pyiqa, an optional
extra: ``perceptual`` says which extra to install when it is missing.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from rayapp.errors import ConfigError, InputImageError

__all__ = ["combing", "luma", "ms_ssim", "peak", "perceptual", "psnr", "ssim"]

Channel = Literal["rgb", "y"]
_BT601 = np.array([65.481, 128.553, 24.966]) / 255.0
_BORDER = 5  # (11 - 1) / 2: where the SSIM window reaches past the image
_BATCH_PIXELS = 1_000_000  # SSIM's working memory: about 1 KB a pixel


def peak(dtype: np.dtype | type) -> float:
    """The value of a full pixel of ``dtype``, what 1.0 is in a [0, 1] float image: 255 for
    uint8, 65535 for uint16; ``InputImageError`` for any other dtype."""
    dtype = np.dtype(dtype)
    if dtype not in (np.uint8, np.uint16):
        raise InputImageError(f"Expected uint8 or uint16 pixels, but got {dtype}")
    return float(np.iinfo(dtype).max)


def psnr(a: np.ndarray, b: np.ndarray, *, channel: Channel = "rgb") -> np.ndarray:
    """PSNR in dB of each image of ``a`` against the same image of ``b``."""
    if channel == "rgb":
        top = _check_pair(a, b)
        mse = _rgb_mse(a, b)
    else:
        x, y, top = _pair(a, b, channel)
        mse = ((x - y) ** 2).mean(dim=(1, 2, 3)).numpy()
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(top**2 / mse)


def _rgb_mse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The MSE of each RGB image pair (checked by ``_check_pair``), summed in whole numbers
    (exact, as float64's sum of these squares is below 2^53): the float64 value at a
    quarter of the float path's time."""
    wide = np.int32 if a.dtype == np.uint8 else np.int64  # 255^2, 65535^2
    diff = np.subtract(_batch(a), _batch(b), dtype=wide)
    squares = np.multiply(diff, diff, out=diff)
    return squares.reshape(len(squares), -1).sum(axis=1, dtype=np.int64) / squares[0].size


def ssim(a: np.ndarray, b: np.ndarray, *, channel: Channel = "rgb") -> np.ndarray:
    """SSIM of each image of ``a`` against the same image of ``b`` (module docstring)."""
    x, y, _ = _pair(a, b, channel, unit=True)
    if min(x.shape[-2:]) <= 2 * _BORDER:
        raise InputImageError(f"SSIM needs images of at least 11 pixels a side, not {x.shape}")
    return _in_batches(_ssim_inside, x, y)


def _ssim_inside(x, y):  # noqa: ANN001, ANN202 - tensors
    """SSIM of each of ``x`` and ``y`` (NCHW float, in [0, 1]) where the window lies inside
    the image, as torchmetrics computes it (its ``return_full_image`` less the border)."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - torch's own name

    channels = x.shape[1]
    offsets = torch.arange(-_BORDER, _BORDER + 1, dtype=x.dtype)
    gauss = torch.exp(-torch.pow(offsets / 1.5, 2) / 2)
    gauss = gauss / gauss.sum()
    # The 11x11 window is a row of 11 then a column of 11 (22 products a pixel, not 121):
    # on channels-last planes, five times faster here; as near to float64 SSIM as float32's
    # 2-D window is.
    stats = torch.cat((x, y, x * x, y * y, x * y)).contiguous(memory_format=torch.channels_last)
    for shape in ((1, -1), (-1, 1)):
        window = gauss.reshape(shape).expand(channels, 1, *gauss.reshape(shape).shape)
        stats = F.conv2d(stats, window.contiguous(), groups=channels)
    mu_x, mu_y, xx, yy, xy = stats.split(x.shape[0])
    c1, c2 = 0.01**2, 0.03**2
    var_x = torch.clamp(xx - mu_x.pow(2), min=0.0)
    var_y = torch.clamp(yy - mu_y.pow(2), min=0.0)
    cov = xy - mu_x * mu_y
    full = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x.pow(2) + mu_y.pow(2) + c1) * (var_x + var_y + c2)
    )
    return full.mean(dim=(1, 2, 3))


def ms_ssim(a: np.ndarray, b: np.ndarray, *, channel: Channel = "rgb") -> np.ndarray:
    """MS-SSIM of each image of ``a`` against the same image of ``b`` (module docstring)."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    x, y, _ = _pair(a, b, channel, unit=True)
    if min(x.shape[-2:]) < 161:
        raise InputImageError(
            f"MS-SSIM needs images of at least 161 pixels a side, but got {tuple(x.shape[-2:])}"
        )

    def measure(x, y):  # noqa: ANN001, ANN202 - tensors
        return multiscale_structural_similarity_index_measure(
            x, y, data_range=1.0, gaussian_kernel=True, sigma=1.5, kernel_size=11,
            reduction="none",
        )  # fmt: skip

    return _in_batches(measure, x, y)


def luma(images: np.ndarray) -> np.ndarray:
    """BT.601 studio-range Y of ``NHWC``/``HWC`` RGB images, float64 on the images' scale."""
    return images.astype(np.float64) @ _BT601 + 16.0 * peak(images.dtype) / 255.0


def combing(images: np.ndarray, threshold: float = 10.0) -> np.ndarray:
    """The share of combed pixels of each image (module docstring)."""
    y = luma(_batch(images)).astype(np.float32)
    if images.dtype == np.uint16:
        y /= 257.0
    middle, above, below = y[:, 1:-1], y[:, :-2], y[:, 2:]
    up, down = middle - above, middle - below
    teeth = ((up > threshold) & (down > threshold)) | ((up < -threshold) & (down < -threshold))
    return teeth.mean(axis=(1, 2)).astype(np.float64)


def perceptual(a: np.ndarray, b: np.ndarray | None = None, *, metric: str = "lpips") -> np.ndarray:
    """A pyiqa measure per image: full-reference (``lpips``: ``b`` the reference) or
    no-reference (``niqe``, ``musiq``: ``b`` None). Needs the ``iqa`` extra and, the first
    time, the network's weights from pyiqa's download site."""
    try:
        import pyiqa
    except ImportError:
        raise ConfigError(
            f"{metric} comes from pyiqa: install the extra with pip install 'rayapp[iqa]'"
        ) from None
    import torch

    measure = pyiqa.create_metric(metric, device="cpu")
    x = torch.from_numpy(_nchw(a) / peak(a.dtype))
    if b is None:
        return measure(x).reshape(-1).numpy().astype(np.float64)
    return measure(x, torch.from_numpy(_nchw(b) / peak(b.dtype))).reshape(-1).numpy()


def _in_batches(measure, x, y) -> np.ndarray:  # noqa: ANN001 - a function of tensors
    """``measure(x, y)`` over a few images at a time (at least one), at most
    ``_BATCH_PIXELS`` pixels a call: its memory stays bounded whatever the batch."""
    per_call = max(1, _BATCH_PIXELS // (x.shape[-2] * x.shape[-1]))
    values = [measure(x[i : i + per_call], y[i : i + per_call]) for i in range(0, len(x), per_call)]
    return np.concatenate([v.numpy() for v in values]).astype(np.float64)


def _pair(a: np.ndarray, b: np.ndarray, channel: Channel, *, unit: bool = False):  # noqa: ANN202
    """``a`` and ``b`` as NCHW float64 tensors in [0, peak], and the peak; ``unit``: float32
    divided by the peak (in [0, 1], Y a little above 0)."""
    import torch

    top = _check_pair(a, b)
    dtype = np.float32 if unit else np.float64
    if channel == "y":
        x, y = (luma(_batch(v))[:, None].astype(dtype) for v in (a, b))
    else:
        x, y = _nchw(a, dtype), _nchw(b, dtype)
    if unit:
        x /= top
        y /= top
    return torch.from_numpy(x), torch.from_numpy(y), top


def _check_pair(a: np.ndarray, b: np.ndarray) -> float:
    """The pair's peak, once ``a`` and ``b`` are of one shape and a pixel dtype."""
    if a.shape != b.shape or a.dtype != b.dtype:
        raise InputImageError(
            f"Expected two arrays of one shape and dtype, but got {a.shape} {a.dtype} "
            f"and {b.shape} {b.dtype}"
        )
    return peak(a.dtype)


def _batch(images: np.ndarray) -> np.ndarray:
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputImageError(f"Expected NHWC or HWC RGB images, but got {images.shape}")
    return images


def _nchw(images: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    return np.ascontiguousarray(_batch(images).transpose(0, 3, 1, 2), dtype=dtype)
