"""The video job's plan, derived once from its config: the one derivation that both the job
(``run_video_job``) and its estimate (``estimate_video``) use, so that they cannot disagree
about the output size, the encoder, the segments or the chunks."""

from __future__ import annotations

import logging
from collections.abc import Callable

from rayapp.config import (
    DEFLICKER_REACH,
    FACE_REACH,
    VideoJobConfig,
    final_scale,
    scaled_size,
)
from rayapp.models import resolve
from rayapp.pipeline.cluster import job_lanes
from rayapp.pipeline.stages import FrameUpscaler, device_type
from rayapp.video import EncodeSettings, JobPlan, MediaInfo, plan_job

__all__ = ["encode_settings", "job_faces", "job_output_size", "lanes_on", "plan_video_job"]

log = logging.getLogger(__name__)


def encode_settings(config: VideoJobConfig) -> EncodeSettings:
    """The encoder the job's chunks are made with (a family resolved per replica)."""
    return EncodeSettings(codec=config.codec, crf=config.crf, preset=config.preset)


def plan_video_job(
    config: VideoJobConfig, upscaler: FrameUpscaler | None = None, *, lanes: int | None = None
) -> JobPlan:
    """Probe the input and cut it into segments and chunks as the job will (at its scene
    cuts; for ``lanes`` chunks at once, ``_sizing.job_lanes``; None: one per replica; each
    chunk with the frames around it that ``--deflicker`` or ``--face-enhance`` reads, or
    the source frame after it that ``--interpolate`` reads), with every check that needs
    no decode of the frames themselves (``rayapp.video.plan_job``)."""
    return plan_job(
        config.input,
        config.output,
        encode_settings(config),
        job_output_size(config, upscaler),
        segment_s=config.segment_s,
        chunk_frames=config.chunk_frames,
        lanes=lanes or config.replicas.max_replicas,
        deinterlace=config.deinterlace,
        ivtc=config.ivtc,
        scenes=config.scene_cuts,
        reach=_reach(config, upscaler),
        interpolate=config.interpolate,
    )


def _reach(config: VideoJobConfig, upscaler: FrameUpscaler | None) -> int:
    """Frames on either side of a chunk that its stages read (none across a scene cut)."""
    if config.deflicker:
        return DEFLICKER_REACH
    return FACE_REACH if job_faces(config, upscaler) else 0


def job_faces(config: VideoJobConfig, upscaler: FrameUpscaler | None) -> bool:
    """Whether the job restores faces: ``--face-enhance``, or a given upscaler's own
    (``faces``; the test doubles' ``rayapp.testing.FaceNearestUpscaler``)."""
    return config.upscale.face_enhance is not None or getattr(upscaler, "faces", None) is not None


def lanes_on(
    node: tuple[float, float] | None, config: VideoJobConfig, upscaler: FrameUpscaler | None
) -> int | None:
    """The chunks the job makes at once with its replicas on a node of (CPUs, GPUs)
    ``node`` (None: no such node yet, one chunk per replica): a replica's model is on a GPU
    when the given upscaler's device is, else when the job gives its replicas GPUs."""
    if node is None:
        return None
    on_gpu = (
        device_type(upscaler) == "cuda"
        if upscaler is not None
        else config.replicas.num_gpus_per_replica > 0
    )
    return job_lanes(config.replicas, *node, model_on_gpu=on_gpu)


def job_output_size(
    config: VideoJobConfig, upscaler: FrameUpscaler | None
) -> Callable[[MediaInfo], tuple[int, int]]:
    """The input -> the output's (height, width): the original size a downscale job
    recorded in it (an upscale without ``outscale``), else the given upscaler's, else the
    model's scale (resolved without loading a registry model's weights)."""
    upscale = config.upscale
    if upscaler is not None:
        own = upscaler.output_size
    else:
        scale = final_scale(upscale.outscale, resolve(upscale.model, upscale.weights).scale)
        own = lambda h, w: scaled_size(h, w, scale)  # noqa: E731

    def size(info: MediaInfo) -> tuple[int, int]:
        recorded = info.original_size
        if config.mode == "upscale" and recorded and upscale.outscale is None:
            log.info("%s is a small copy: restoring its original %dx%d", info.uri, *recorded)
            return recorded[1], recorded[0]
        return own(info.video.height, info.video.width)

    return size
