"""One model replica: frames in, upscaled frames out.

Contracts:
- ``upscale_batch``: frames ``NHWC`` RGB, ``uint8`` or ``uint16`` -> ``NHWC`` same dtype,
  of size ``output_size(h, w)``.
- ``upscale_batch_yuv420``: the same frames (``uint8``) as the video encoder's 8-bit 4:2:0
  planes (``rayapp.video.Yuv420``), converted on the model's device.
- ``upscale``: one image ``HW`` (gray), ``HWC`` with C in {1, 3, 4}, ``uint8`` or ``uint16``
  -> the same layout and dtype, upscaled. Alpha is upscaled separately and re-attached.
- ``forward``: the bare network, ``NCHW`` float in [0, 1] -> ``NCHW`` float at the
  network's own scale (not clamped, not resized): what benchmarks time.
- model input: ``NCHW`` float in [0, 1]; output clamped to [0, 1].

The instance holds only the model and its settings: every call keeps its state in locals,
so one ``Upscaler`` is safe to use from several threads at once (Serve replicas do that).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from rayapp import quality
from rayapp._tiling import run_tiled
from rayapp.config import DEFAULT_MODEL, UpscaleConfig, final_scale, scaled_size
from rayapp.errors import ConfigError, InputImageError
from rayapp.hardware import resolve_device, resolve_precision
from rayapp.models import resolve
from rayapp.resize import resize_tensor

if TYPE_CHECKING:
    from rayapp.faces import FaceEnhancer
    from rayapp.models import Network
    from rayapp.video import Yuv420

__all__ = ["Upscaler", "frames_from_tensor", "planes_from_tensor"]

log = logging.getLogger(__name__)


class Upscaler:
    """A loaded model with its device, precision, tiling and output scale."""

    def __init__(
        self,
        desc: Network,
        config: UpscaleConfig,
        faces: FaceEnhancer | None = None,
    ) -> None:
        if desc.input_channels != 3 or desc.output_channels != 3:
            raise ConfigError(
                f"Expected an RGB model (3 channels in and out), but got "
                f"{desc.input_channels} in, {desc.output_channels} out"
            )
        self.config = config
        self.scale: int = desc.scale
        self.outscale: float = final_scale(config.outscale, desc.scale)
        self.device = resolve_device(config.device)
        self.precision = resolve_precision(
            config.precision,
            self.device,
            supports_half=desc.supports_half,
            supports_bf16=desc.supports_bfloat16,
        )
        self._padding = desc.padding
        model = desc.model.to(self.device).eval()
        if self.precision == "fp16":
            model = model.half()  # converted once here, never per call
        self._model = model.to(memory_format=torch.channels_last)
        self._run: Callable[[torch.Tensor], torch.Tensor] = self._model
        if config.compile and self.device.type == "cpu" and self.precision == "fp32":
            from rayapp._inductor import optimize_for_cpu

            example = torch.rand(1, 3, 64, 64).contiguous(memory_format=torch.channels_last)
            self._run = optimize_for_cpu(self._model, example)
        self.name = config.model
        self.faces = faces  # --face-enhance: restored in upscale's pictures
        log.info(
            "upscaler %s x%s on %s in %s (asked: %s)",
            self.name,
            self.outscale,
            self.device,
            self.precision,
            config.precision,
        )

    @classmethod
    def load(cls, model: str = DEFAULT_MODEL, **options: Any) -> Upscaler:
        """``Upscaler.load("realesrgan-x4plus", device="cpu", outscale=2, tile=256)``."""
        return cls.from_config(UpscaleConfig(model=model, **options))

    @classmethod
    def from_config(cls, config: UpscaleConfig) -> Upscaler:
        faces = None
        if config.face_enhance is not None:  # a checkpoint of another purpose: refused first
            from rayapp.faces import FaceEnhancer

            device = str(resolve_device(config.device))
            faces = FaceEnhancer.load(config.face_enhance, config.face_strength, device)
        return cls(resolve(config.model, config.weights).load(), config, faces)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return scaled_size(height, width, self.outscale)

    @property
    def identity(self) -> str:
        """What decides its pixels (``UpscaleConfig.identity``)."""
        return self.config.identity

    def device_memory(self) -> int:
        """Peak bytes this process has reserved on the CUDA device (0 on a CPU)."""
        if self.device.type != "cuda":
            return 0
        return int(torch.cuda.max_memory_reserved(self.device))

    @property
    def compiled(self) -> bool:
        """True while ``forward`` runs the TorchInductor-compiled network (``compile``)."""
        return bool(getattr(self._run, "compiled", False))

    # -- public calls -------------------------------------------------------------------

    def upscale_batch(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Frames ``NHWC`` RGB uint8/uint16 -> ``NHWC`` same dtype at ``output_size``, or at
        exactly (height, width) ``size``."""
        return frames_from_tensor(self.upscale_batch_tensor(frames, size), frames.dtype)

    def upscale_batch_tensor(
        self, frames: np.ndarray, size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """Frames ``NHWC`` RGB uint8/uint16 -> ``NCHW`` float32 in [0, 1] on this device:
        ``upscale_batch``'s frames before they are rounded (``frames_from_tensor``), for a
        stage that works on them where they are (``rayapp.deflicker``)."""
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise InputImageError(f"Expected NHWC frames with 3 channels, but got {frames.shape}")
        return self._upscale_tensor(self._to_tensor(frames, quality.peak(frames.dtype)), size)

    def upscale_batch_yuv420(
        self, frames: np.ndarray, planes: Yuv420, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """Frames ``NHWC`` RGB uint8 -> ``(N, H * 3 / 2, W)`` uint8: ``upscale_batch``'s
        frames as the encoder's planes, converted on this device (a GPU sends half the
        bytes, and the CPUs that encode do not convert)."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise InputImageError(
                f"Expected NHWC uint8 frames with 3 channels, but got {frames.shape} {frames.dtype}"
            )
        return planes_from_tensor(
            self._upscale_tensor(self._to_tensor(frames, 255.0), size), planes
        )

    def upscale(self, image: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """One image: gray ``HW``/``HW1``, RGB ``HW3`` or RGBA ``HW4``, uint8/uint16; at
        ``output_size``, or at exactly (height, width) ``size``; with ``faces``, its faces
        restored (a video's are steadied over its frames first: the video job does that)."""
        if image.ndim == 2:
            return self.upscale(image[:, :, None], size)[:, :, 0]
        if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
            raise InputImageError(
                f"Expected an HxW, HxWx1, HxWx3 or HxWx4 image, but got {image.shape}"
            )
        channels = image.shape[2]
        if channels == 1:
            rgb = np.repeat(image, 3, axis=2)
            out = self._with_faces(rgb, self.upscale_batch(rgb[None], size)[0])
            return _mean_channels(out, image.dtype)[:, :, None]
        rgb = np.ascontiguousarray(image[:, :, :3])
        out = self._with_faces(rgb, self.upscale_batch(rgb[None], size)[0])
        if channels == 3:
            return out
        alpha = self._upscale_alpha(image[:, :, 3], size)
        return np.concatenate([out, alpha[:, :, None]], axis=2)

    # -- internals ----------------------------------------------------------------------

    def _with_faces(self, image: np.ndarray, upscaled: np.ndarray) -> np.ndarray:
        if self.faces is None:
            return upscaled
        return self.faces.apply(image[None], upscaled[None])[0]

    def _to_tensor(self, frames: np.ndarray, peak: float) -> torch.Tensor:
        """NHWC integers -> NCHW float in [0, 1] on this device."""
        if not frames.flags.writeable:  # e.g. zero-copy views of Ray object-store buffers
            frames = frames.copy()
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        return x.permute(0, 3, 1, 2).float().div_(peak)

    def _upscale_alpha(self, alpha: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        h, w = size or self.output_size(*alpha.shape)
        if alpha.min() == alpha.max():  # opaque (or uniform) alpha needs no model pass
            return np.full((h, w), alpha.flat[0], dtype=alpha.dtype)
        rgb = np.repeat(alpha[:, :, None], 3, axis=2)
        return _mean_channels(self.upscale_batch(rgb[None], size)[0], alpha.dtype)

    def _upscale_tensor(self, x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
        """NCHW float [0, 1] -> NCHW float [0, 1] at ``size`` (default ``output_size``)."""
        _, _, h, w = x.shape
        if h == 0 or w == 0:
            raise InputImageError(f"Expected a non-empty image, but got {h}x{w}")
        tile = self.config.tile
        with torch.inference_mode():
            if tile and (h > tile or w > tile):
                y = run_tiled(x, self.forward, self.scale, tile, self.config.tile_overlap)
            else:
                y = self.forward(x)
            y = resize_tensor(y.float().clamp_(0, 1), size or self.output_size(h, w))
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network at its own scale on ``x`` (``NCHW`` float in [0, 1] on this device):
        padded to the network's size requirements and cropped back, in this upscaler's
        precision. No clamping, no resize to ``outscale``: the bare forward."""
        _, _, h, w = x.shape
        pad_w, pad_h = self._padding(w, h)
        if pad_w or pad_h:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        x = x.contiguous(memory_format=torch.channels_last)
        if self.precision == "fp16":
            x = x.half()
        with torch.inference_mode(), self._autocast():
            y = self._run(x)
        return y[:, :, : h * self.scale, : w * self.scale]

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def frames_from_tensor(y: torch.Tensor, dtype: np.dtype | type) -> np.ndarray:
    """NCHW float in [0, 1] on any device -> NHWC ``dtype`` (uint8 or uint16) on the host,
    rounded. uint8 is made on the device, so a GPU sends one byte a sample (as int32 a 4K
    frame took 32 ms to copy)."""
    peak = quality.peak(dtype)
    with torch.inference_mode():
        y = (y * peak).round_().permute(0, 2, 3, 1)
        if np.dtype(dtype) == np.uint8:
            return y.to(torch.uint8).cpu().numpy()
        return y.to("cpu", torch.int32).numpy().astype(dtype)


def planes_from_tensor(y: torch.Tensor, planes: Yuv420) -> np.ndarray:
    """NCHW float RGB in [0, 1] on any device -> ``(N, H * 3 / 2, W)`` uint8 on the host:
    the encoder's 8-bit 4:2:0 planes, converted where the frames are."""
    with torch.inference_mode():
        return _yuv420(y, planes).cpu().numpy()


def _yuv420(rgb: torch.Tensor, planes: Yuv420) -> torch.Tensor:
    """NCHW float RGB in [0, 1] (even H and W) -> ``(N, H * 3 / 2, W)`` uint8 on its device:
    Y at every pixel, Cb and Cr of each 2x2 block's mean (chroma is linear in RGB: the
    mean's chroma is the chroma's mean), limited or full range, rounded."""
    kr, kb = planes.weights
    weights = torch.tensor([kr, 1.0 - kr - kb, kb], device=rgb.device)
    n, _, h, w = rgb.shape
    luma = torch.einsum("nchw,c->nhw", rgb, weights)
    block = F.avg_pool2d(rgb, 2)
    block_luma = torch.einsum("nchw,c->nhw", block, weights)
    cb = (block[:, 2] - block_luma) / (2.0 * (1.0 - kb))
    cr = (block[:, 0] - block_luma) / (2.0 * (1.0 - kr))
    y_scale, c_scale = (255.0, 255.0) if planes.full_range else (219.0, 224.0)
    y_plane = luma * y_scale + (0.0 if planes.full_range else 16.0)
    chroma = torch.stack([cb, cr], 1) * c_scale + 128.0
    out = torch.cat([y_plane.reshape(n, -1), chroma.reshape(n, -1)], 1)
    return out.round_().clamp_(0, 255).to(torch.uint8).reshape(n, h * 3 // 2, w)


def _mean_channels(rgb: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.round(rgb.astype(np.float32).mean(axis=2)).astype(dtype)
