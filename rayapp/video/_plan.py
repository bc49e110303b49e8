"""plan_job: everything decided before the first frame is decoded: probe, output checks,
segments and chunks (``rayapp.pipeline`` derives a job's from its config, once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rayapp import storage
from rayapp.video._codecs import EncodeSettings
from rayapp.video._containers import OutputPlan, output_format, plan_output
from rayapp.video._encode import frame_depth
from rayapp.video._info import MediaInfo
from rayapp.video._probe import check_video_header, probe
from rayapp.video._segments import Run, Segment, auto_chunk_frames, plan_runs, plan_segments

__all__ = ["JobPlan", "plan_job", "preflight"]


@dataclass(frozen=True)
class JobPlan:
    info: MediaInfo
    output: OutputPlan
    settings: EncodeSettings  # the encoder of the job's chunks
    size: tuple[int, int]  # (height, width) of the output frames
    depth: int  # bits per channel the frames are decoded to (8 or 16)
    segments: tuple[Segment, ...]
    chunk_frames: int  # most frames per run: as asked, or auto_chunk_frames'
    runs: tuple[Run, ...]


def preflight(input_uri: str, output_uri: str) -> None:
    """What can be checked without reading the input's packets: the output's scheme and
    container (its extension), and an input that is a media file with a video stream."""
    storage.check_scheme(output_uri)
    output_format(output_uri)
    check_video_header(input_uri)


def plan_job(
    input_uri: str,
    output_uri: str,
    settings: EncodeSettings,
    output_size: Callable[[MediaInfo], tuple[int, int]],
    *,
    segment_s: float,
    chunk_frames: int | None,
    lanes: int = 1,
) -> JobPlan:
    """Probe the input and check the output (scheme, container, codec, frame size) before any
    work: ``output_size(info)`` is the output's (height, width). ``chunk_frames`` None: at most
    48, fewer where that keeps ``lanes`` (chunks made at once) busy to the end
    (``auto_chunk_frames``)."""
    storage.check_scheme(output_uri)
    info = probe(input_uri)
    output = plan_output(info, output_uri, settings.codec)
    height, width = output_size(info)
    settings.check_size(height, width, settings.resolve_pix_fmt(info.video))
    segments = plan_segments(info, segment_s)
    chunk_frames = chunk_frames or auto_chunk_frames(segments, lanes)
    return JobPlan(
        info=info,
        output=output,
        settings=settings,
        size=(height, width),
        depth=frame_depth(settings, info.video),
        segments=segments,
        chunk_frames=chunk_frames,
        runs=tuple(plan_runs(segments, chunk_frames)),
    )
