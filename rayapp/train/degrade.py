"""Low-resolution inputs made from high-resolution patches, as Real-ESRGAN trains (Wang et
al. 2021, "second-order degradation"), seeded: the same generator state gives the same
bytes.

Two stages, each: Gaussian blur, a random resize (bilinear, bicubic or area), Gaussian or
Poisson noise (sometimes the same on every channel), then compression. The first stage
compresses as JPEG; the second resizes to exactly the patch's size divided by ``scale``
first, then compresses as JPEG or, with ``video_prob``, as one H.264 frame through PyAV
(libx264 at a random CRF: the blocking and ringing of the footage to be upscaled). The
defaults are Real-ESRGAN's ranges (its ``train_realesrgan_x4plus.yml``), on 0-255 pixels.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageFilter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rayapp.errors import ConfigError
from rayapp.video import to_rgb

__all__ = ["DegradeConfig", "degrade"]

Range = tuple[float, float]
_RESAMPLE = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.BOX)


class DegradeConfig(BaseModel):
    """Ranges drawn uniformly per patch; ``*_prob`` the chance of a step or variant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    blur_sigma: tuple[Range, Range] = Field(((0.2, 3.0), (0.2, 1.5)), description="per stage")
    blur_prob: tuple[float, float] = Field((1.0, 0.8), description="per stage")
    resize: tuple[Range, Range] = Field(((0.15, 1.5), (0.3, 1.2)), description="per stage")
    gaussian_noise: tuple[Range, Range] = Field(((1.0, 30.0), (1.0, 25.0)), description="sigma")
    poisson_scale: tuple[Range, Range] = Field(((0.05, 3.0), (0.05, 2.5)), description="scale")
    poisson_prob: float = Field(0.4, ge=0, le=1, description="Poisson instead of Gaussian")
    gray_noise_prob: float = Field(0.4, ge=0, le=1, description="one noise for every channel")
    jpeg_quality: tuple[Range, Range] = Field(((30, 95), (30, 95)), description="per stage")
    video_prob: float = Field(0.3, ge=0, le=1, description="stage 2: H.264 instead of JPEG")
    video_crf: Range = Field((18, 35), description="stage 2's H.264 CRF")

    @model_validator(mode="after")
    def _ranges_ordered(self) -> DegradeConfig:
        for name in ("blur_sigma", "resize", "gaussian_noise", "poisson_scale", "jpeg_quality"):
            for lo, hi in getattr(self, name):
                if not 0 <= lo <= hi:
                    raise ValueError(f"{name}: expected 0 <= low <= high, but got ({lo}, {hi})")
        if not 0 <= self.video_crf[0] <= self.video_crf[1] <= 51:
            raise ValueError(f"video_crf: expected 0 <= low <= high <= 51, got {self.video_crf}")
        return self


def degrade(
    hr: np.ndarray, scale: int, rng: np.random.Generator, config: DegradeConfig | None = None
) -> np.ndarray:
    """``HWC`` RGB uint8 patch -> its degraded ``(H / scale, W / scale, 3)`` uint8 input."""
    config = config or DegradeConfig()
    h, w = hr.shape[:2]
    if hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[2] != 3:
        raise ConfigError(f"Expected an HxWx3 uint8 patch, but got {hr.shape} {hr.dtype}")
    if scale < 1 or h % scale or w % scale:
        raise ConfigError(f"A {w}x{h} patch does not divide by the scale {scale}")
    size = (w // scale, h // scale)
    x = hr
    for stage in (0, 1):
        x = _blur(x, stage, rng, config)
        x = _resize(x, stage, rng, config, (w, h))
        x = _noise(x, stage, rng, config)
        if stage == 0:
            x = _jpeg(x, rng.uniform(*config.jpeg_quality[0]))
    x = _resize_to(x, size, _RESAMPLE[rng.integers(len(_RESAMPLE))])
    if rng.random() < config.video_prob:
        return _h264(x, int(rng.integers(config.video_crf[0], config.video_crf[1] + 1)))
    return _jpeg(x, rng.uniform(*config.jpeg_quality[1]))


def _blur(x: np.ndarray, stage: int, rng: np.random.Generator, c: DegradeConfig) -> np.ndarray:
    if rng.random() >= c.blur_prob[stage]:
        return x
    sigma = rng.uniform(*c.blur_sigma[stage])
    return np.asarray(Image.fromarray(x).filter(ImageFilter.GaussianBlur(sigma)))


def _resize(
    x: np.ndarray, stage: int, rng: np.random.Generator, c: DegradeConfig, hr_wh: tuple[int, int]
) -> np.ndarray:
    factor = rng.uniform(*c.resize[stage])
    base = hr_wh if stage == 0 else (x.shape[1], x.shape[0])  # stage 2: of stage 1's size
    w, h = (max(2, round(v * factor)) for v in base)
    return _resize_to(x, (w, h), _RESAMPLE[rng.integers(len(_RESAMPLE))])


def _resize_to(x: np.ndarray, wh: tuple[int, int], mode: Image.Resampling) -> np.ndarray:
    if (x.shape[1], x.shape[0]) == wh:
        return x
    return np.asarray(Image.fromarray(x).resize(wh, mode))


def _noise(x: np.ndarray, stage: int, rng: np.random.Generator, c: DegradeConfig) -> np.ndarray:
    gray = rng.random() < c.gray_noise_prob
    shape = (*x.shape[:2], 1) if gray else x.shape
    if rng.random() < c.poisson_prob:
        scale = rng.uniform(*c.poisson_scale[stage])
        # Real-ESRGAN's: Poisson counts at 10^k levels, k from the image's distinct values.
        vals = 2 ** np.ceil(np.log2(max(len(np.unique(x)), 2)))
        base = x.astype(np.float64) / 255.0
        src = base.mean(axis=2, keepdims=True) if gray else base
        noisy = rng.poisson(src * vals) / vals
        noise = (noisy - src) * scale * 255.0
    else:
        noise = rng.normal(0.0, rng.uniform(*c.gaussian_noise[stage]), shape)
    return np.clip(np.round(x + noise), 0, 255).astype(np.uint8)


def _jpeg(x: np.ndarray, quality: float) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=int(round(quality)))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _h264(x: np.ndarray, crf: int) -> np.ndarray:
    """One frame through libx264 (yuv420p, padded to even sides) and back."""
    h, w = x.shape[:2]
    padded = np.pad(x, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = padded.shape[1], padded.shape[0], "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.thread_count = 1  # deterministic, and the data workers are many
    ctx.options = {"crf": str(crf), "preset": "veryfast", "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(padded, format="rgb24").reformat(format="yuv420p")
    frame.pts = 0
    packets = ctx.encode(frame) + ctx.encode(None)
    dec = av.CodecContext.create("h264", "r")
    frames = [f for p in packets for f in dec.decode(p)] + dec.decode(None)
    return to_rgb(frames[0])[:h, :w]
