"""The video job's stages, plain callables both runners call: decode a segment into runs of
frames, and upscale and encode a run into a chunk (``UpscaleEncode``, one model replica)."""

from __future__ import annotations

from rayapp.pipeline.stages._dedup import network_sources
from rayapp.pipeline.stages._stages import (
    ForwardCost,
    FrameUpscaler,
    PlanesUpscaler,
    TensorUpscaler,
    UpscaleEncode,
    decode_runs,
    device_planes,
    device_type,
    encode_frames,
    encode_run,
    keep_chunk,
    segment_rows,
    upscaled_frames,
    upscaled_run,
    upscaled_tensors,
)

__all__ = [
    "ForwardCost",
    "FrameUpscaler",
    "PlanesUpscaler",
    "TensorUpscaler",
    "UpscaleEncode",
    "decode_runs",
    "device_planes",
    "device_type",
    "encode_frames",
    "encode_run",
    "keep_chunk",
    "network_sources",
    "segment_rows",
    "upscaled_frames",
    "upscaled_run",
    "upscaled_tensors",
]
