"""The video job's stages, plain callables both runners call (docs/architecture.md, "The
video job"): the Ray runner runs them in tasks and actors, the local runner in a loop.

- decode (``_decode``): a segment -> its runs of frames, with the frames around each that
  a stage reading neighbours needs;
- upscale (``_upscale``): a run's frames through the model, repeats skipped (``_dedup``),
  deflickered when asked, or with frames made between them by the interpolator a job
  names (``_interpolator``); what the model must offer (``_upscaler``);
- encode (``_encode``): the upscaled frames into a chunk, kept with its measures;
- one replica (``_replica``): ``UpscaleEncode``, runs in and chunks out.
"""

from __future__ import annotations

from rayapp.pipeline.stages._decode import decode_runs, packed_captions, segment_rows
from rayapp.pipeline.stages._dedup import network_sources
from rayapp.pipeline.stages._encode import encode_frames, encode_run, keep_chunk
from rayapp.pipeline.stages._interpolator import check_interpolator, load_interpolator
from rayapp.pipeline.stages._replica import UpscaleEncode
from rayapp.pipeline.stages._upscale import (
    ForwardCost,
    interpolated_run,
    upscaled_frames,
    upscaled_run,
    upscaled_tensors,
    with_faces,
)
from rayapp.pipeline.stages._upscaler import (
    FrameUpscaler,
    PlanesUpscaler,
    TensorUpscaler,
    device_planes,
    device_type,
)

__all__ = [
    "ForwardCost",
    "FrameUpscaler",
    "PlanesUpscaler",
    "TensorUpscaler",
    "UpscaleEncode",
    "check_interpolator",
    "decode_runs",
    "device_planes",
    "device_type",
    "encode_frames",
    "encode_run",
    "interpolated_run",
    "keep_chunk",
    "load_interpolator",
    "network_sources",
    "packed_captions",
    "segment_rows",
    "upscaled_frames",
    "upscaled_run",
    "upscaled_tensors",
    "with_faces",
]
