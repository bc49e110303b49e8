"""What the video pipeline needs of a model replica (``FrameUpscaler``), what more some offer
(their frames as the encoder's planes, or where they made them), and where its frames are."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from rayapp.pipeline.work import EncodeJob
from rayapp.video import (
    Yuv420,
    yuv420_planes,
)

__all__ = ["FrameUpscaler", "PlanesUpscaler", "TensorUpscaler", "device_planes", "device_type"]


@runtime_checkable
class FrameUpscaler(Protocol):
    """What the video pipeline needs from a model replica (``rayapp.Upscaler`` is one;
    ``rayapp.testing.NearestUpscaler`` a test double): everything it reads, declared."""

    name: str  # for the job's log and the replicas' metrics
    precision: str  # fp32, bf16, fp16, or n/a for a model that has none

    @property
    def device(self) -> object:
        """Where its frames are: ``str()`` of it is ``cpu`` or ``cuda[:<index>]`` (the
        encoder family's choice of NVENC follows it)."""
        ...

    @property
    def identity(self) -> str:
        """What decides the pixels it makes: part of the job's fingerprint, so a changed
        model never reuses an earlier run's chunks."""
        ...

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) of the upscaled frame."""
        ...

    def upscale_batch(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """frames: NHWC RGB uint8 (or uint16) -> NHWC, same dtype, of ``output_size``, or
        of exactly (height, width) ``size``: asked only of a job whose output size is not
        the upscaler's own (a small copy restored to its recorded original size)."""
        ...

    def device_memory(self) -> int:
        """Peak bytes reserved on its GPU (0 on a CPU)."""
        ...


@runtime_checkable
class PlanesUpscaler(FrameUpscaler, Protocol):
    """A ``FrameUpscaler`` that can also hand its frames over as the encoder's own planes,
    converted where its model runs (``rayapp.Upscaler``; ``rayapp.testing``'s simulated
    GPU)."""

    def upscale_batch_yuv420(
        self, frames: np.ndarray, planes: Yuv420, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """frames: NHWC RGB uint8 -> ``(N, *planes.shape(height, width))`` uint8 at
        ``output_size`` (or ``size``), as ``upscale_batch`` would make them."""
        ...


@runtime_checkable
class TensorUpscaler(FrameUpscaler, Protocol):
    """A ``FrameUpscaler`` that can also hand its frames over where it made them, before
    they are rounded (``rayapp.Upscaler``): a stage that works on them (``--deflicker``)
    then runs on its device."""

    def upscale_batch_tensor(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> Any:
        """frames: NHWC RGB uint8/uint16 -> an ``NCHW`` float32 torch tensor in [0, 1] on
        its device, at ``output_size`` (or ``size``)."""
        ...


def device_planes(upscaler: FrameUpscaler, job: EncodeJob, dtype: np.dtype) -> Yuv420 | None:
    """The encoder's planes for ``upscaler`` to make, when its model runs on a GPU and it
    can (``PlanesUpscaler``) and the encoder takes 8-bit 4:2:0 (``yuv420_planes``): the CPUs,
    a GPU node's bound, then neither convert RGB nor receive twice the bytes. None: RGB."""
    device = device_type(upscaler)
    if device != "cuda" or dtype != np.uint8 or not isinstance(upscaler, PlanesUpscaler):
        return None
    pix_fmt = job.settings.for_device(device).resolve_pix_fmt(job.source)
    return yuv420_planes(pix_fmt, job.source.colour)


def device_type(upscaler: FrameUpscaler) -> str:
    """``cuda`` or ``cpu``: where the upscaler's frames are (an encoder to match)."""
    return str(upscaler.device).split(":")[0]
