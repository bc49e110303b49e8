"""assemble: check the chunks account for every source frame, then remux the final file.

Video packets come from the chunks, audio and subtitle packets from the source, all by
stream copy (subtitles are re-encoded only where the container needs another text
format). Nothing is decoded. The result is written to a local temporary file and
published at the output URI in one step, so a failure leaves nothing there.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from rayapp import storage
from rayapp.errors import FrameAccountingError
from rayapp.video._containers import OutputPlan, plan_output
from rayapp.video._encode import Chunk, movie_timescale_options
from rayapp.video._info import ORIGINAL_SIZE_TAG, MediaInfo
from rayapp.video._remux import SourcePackets, VideoPackets, time_key

__all__ = ["AssembledVideo", "assemble", "check_coverage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssembledVideo:
    uri: str
    format_name: str
    frames: int
    width: int
    height: int
    video_codec: str
    checked: Any = None  # what ``assemble``'s ``check`` returned


def check_coverage(chunks: Iterable[Chunk], frame_count: int) -> list[Chunk]:
    """Chunks ordered by first frame; FrameAccountingError unless they tile [0, frame_count)."""
    ordered = sorted(chunks, key=lambda c: c.first_frame_index)
    problems = []
    position = 0
    for chunk in ordered:
        if chunk.frame_count <= 0:
            problems.append(f"{chunk.uri} holds no frames")
        elif chunk.first_frame_index > position:
            problems.append(f"frames {position}-{chunk.first_frame_index - 1} are in no chunk")
        elif chunk.first_frame_index < position:
            problems.append(
                f"frames {chunk.first_frame_index}-{min(position, chunk.stop) - 1} are in more "
                f"than one chunk (again in {chunk.uri})"
            )
        position = max(position, chunk.stop)
    if position < frame_count:
        problems.append(f"frames {position}-{frame_count - 1} are in no chunk")
    elif position > frame_count:
        problems.append(
            f"chunks hold frames up to {position - 1}, but the source has only "
            f"{frame_count} frames (0-{frame_count - 1})"
        )
    if problems:
        raise FrameAccountingError(
            f"Chunks do not cover the {frame_count} source frames exactly once: "
            + "; ".join(problems)
        )
    return ordered


def assemble(
    chunks: Iterable[Chunk],
    source: MediaInfo,
    output_uri: str,
    *,
    plan: OutputPlan | None = None,
    original_size: tuple[int, int] | None = None,
    check: Callable[[str], Any] | None = None,
) -> AssembledVideo:
    """Remux ``chunks`` plus the source's audio/subtitles into ``output_uri``, atomically.
    ``original_size`` (width, height) is recorded in the container (``ORIGINAL_SIZE_TAG``):
    the output is a small copy that an upscale job restores to that size. ``check`` is
    called with the written file's local path before it is published: what it raises
    leaves ``output_uri`` as it was; what it returns is the result's ``checked``."""
    ordered = check_coverage(chunks, source.video.frame_count)
    video_packets = VideoPackets(ordered, source.video)
    plan = plan or plan_output(source, output_uri, video_packets.codec)
    with storage.atomic_write(output_uri, suffix=plan.extension) as tmp:
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(
                av.open(
                    tmp,
                    "w",
                    format=plan.format_name,
                    options=_muxer_options(plan, source.video.time_base, original_size),
                )
            )
            video_out = _add_video_stream(out, video_packets, source, plan)
            extra = SourcePackets(source, plan, stack) if _has_extra(plan) else None
            if extra is not None:
                extra.add_streams(out)
            _copy_metadata(out, source)
            if original_size is not None:
                out.metadata[ORIGINAL_SIZE_TAG] = "{}x{}".format(*original_size)
            out.start_encoding()  # the muxer fixes each stream's final time_base here
            streams: list[Iterator[av.Packet]] = [video_packets.packets(video_out)]
            if extra is not None:
                streams.append(extra.packets())
            for packet in heapq.merge(*streams, key=time_key):
                out.mux(packet)
        checked = check(tmp) if check is not None else None
    log.info(
        "assembled %d frames from %d chunks into %s",
        source.video.frame_count,
        len(ordered),
        output_uri,
    )
    return AssembledVideo(
        uri=output_uri,
        format_name=plan.format_name,
        frames=source.video.frame_count,
        width=video_packets.width,
        height=video_packets.height,
        video_codec=video_packets.codec,
        checked=checked,
    )


def _muxer_options(
    plan: OutputPlan, video_time_base: Fraction, original_size: tuple[int, int] | None
) -> dict[str, str]:
    if plan.format_name in ("mp4", "mov"):
        # An edit list (B-frames, or a source that does not start at 0) is written in the
        # movie timescale, 1/1000 s by default, which would round the video's first pts.
        options = movie_timescale_options(video_time_base)
        if original_size is not None:  # MP4 keeps a tag of its own name only this way
            options["movflags"] = "use_metadata_tags"
        return options
    if plan.format_name in ("matroska", "webm"):
        # Keep the source timeline as is. By default FFmpeg shifts *every* stream later
        # when one starts below zero (AAC priming from MP4 starts at about -21..-64 ms),
        # so video pts would no longer equal the source's. Matroska blocks store signed
        # offsets, and FFmpeg and players read them back unchanged.
        return {"avoid_negative_ts": "disabled"}
    return {}


def _has_extra(plan: OutputPlan) -> bool:
    return bool(plan.copy_streams or plan.convert_subtitles)


def _add_video_stream(
    out: av.container.OutputContainer, video: VideoPackets, source: MediaInfo, plan: OutputPlan
) -> av.VideoStream:
    stream = video.add_stream(out)
    if video.codec == "hevc" and plan.format_name in ("mp4", "mov"):
        # FFmpeg's default sample entry is hev1; Apple's players (QuickTime, Safari, iOS)
        # play HEVC in MP4/MOV only as hvc1 (parameter sets in the sample description).
        stream.codec_tag = "hvc1"
    if source.video.rotation:
        # The pixels were never rotated; carry the source's display matrix instead.
        stream.set_display_rotation(source.video.rotation)
    if source.video.language:
        stream.metadata["language"] = source.video.language
    if source.video.sample_aspect_ratio:
        # Not every codec says it in its stream (AV1 does not): the container then does.
        stream.sample_aspect_ratio = source.video.sample_aspect_ratio
    rate = source.video.average_rate or source.video.real_rate
    if source.video.timecode and rate:
        # MP4 and MOV write a timecode track from it (counting frames at the stream's rate);
        # Matroska keeps it as the track's tag.
        stream.metadata["timecode"] = source.video.timecode
        stream.codec_context.framerate = rate
    return stream


def _copy_metadata(out: av.container.OutputContainer, source: MediaInfo) -> None:
    # Container-level tags (title, comment, ...) but not the old muxer's own bookkeeping.
    # A recorded original size belongs to the small copy, not to what is made from it.
    skip = {"major_brand", "minor_version", "compatible_brands", "encoder", ORIGINAL_SIZE_TAG}
    with storage.open_input(source.uri) as f, av.open(f) as src:
        for key, value in src.metadata.items():
            if key.lower() not in skip:
                out.metadata[key] = value
        chapters = src.chapters()
    if chapters:  # the same times and titles: the timeline is the source's
        out.set_chapters(chapters)
