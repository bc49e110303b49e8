"""probe(uri): container, streams and the video keyframe index, from demuxed packets.

The file is opened through fsspec (range reads; an object on S3 is never downloaded
whole first). Frame count, timestamps and keyframes come from the video packets alone:
``frame_pts`` is the sorted list of the video packets' pts, so a frame's global
``frame_index`` is the rank of its pts in that list whatever the decode order (B-frames).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace

import av

from rayapp import storage
from rayapp.errors import InvalidVideoError, UnsupportedCodecError
from rayapp.video._captions import CAPTION_TAG
from rayapp.video._colour import Colour, HdrMetadata
from rayapp.video._info import (
    ORIGINAL_SIZE_TAG,
    AudioStreamInfo,
    Keyframe,
    MediaInfo,
    OtherStreamInfo,
    StreamInfo,
    SubtitleStreamInfo,
    VideoStreamInfo,
)

__all__ = ["check_video_header", "check_video_input", "probe"]

log = logging.getLogger(__name__)

_TRUNCATION_SLACK_S = 0.025  # rounding of declared durations


def check_video_input(uri: str) -> None:
    """What can be told without reading the input: it exists, is a file, is not empty."""
    if storage.file_size(uri) == 0:
        raise InvalidVideoError(f"{uri} is empty (0 bytes); expected a video file")


def check_video_header(uri: str) -> None:
    """What the container's header tells (no packet is read): the input is a media file
    with a video stream we can decode. Cheap next to ``probe``, which reads every packet."""
    with _open(uri) as container:
        _main_video_stream(container, uri)


def probe(uri: str) -> MediaInfo:
    """Describe the media at ``uri`` (any fsspec URI). Raises ``InvalidVideoError``,
    ``UnsupportedCodecError`` or ``StorageError`` with the reason."""
    with _open(uri) as container:
        video = _main_video_stream(container, uri)
        frame_pts, keyframes, last_duration, first_key, captioned = _index_packets(
            container, video, uri
        )
        first = _first_frame(video, first_key, uri)
        video_info = _video_info(video, frame_pts, keyframes, last_duration, first)
        video_info = replace(
            video_info, timecode=_timecode(container, video), caption_packets=captioned
        )
        streams = tuple(
            video_info if s.index == video.index else _stream_info(s) for s in container.streams
        )
        duration_s = container.duration / av.time_base if container.duration else None
        original = _original_size(container.metadata, uri)
        info = MediaInfo(uri, container.format.name, duration_s, video_info, streams, original)
    log.debug("probed %s: %s", uri, info)
    return info


def _original_size(tags: dict[str, str], uri: str) -> tuple[int, int] | None:
    """The (width, height) a downscale job recorded (Matroska upper-cases tag names)."""
    value = next((v for k, v in tags.items() if k.lower() == ORIGINAL_SIZE_TAG), None)
    if value is None:
        return None
    width, _, height = value.partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise InvalidVideoError(f"{uri}: tag {ORIGINAL_SIZE_TAG}={value[:32]!r} is not WxH")
    return int(width), int(height)


@contextlib.contextmanager
def _open(uri: str) -> Iterator[av.container.InputContainer]:
    check_video_input(uri)
    with storage.open_input(uri) as f:
        try:
            container = av.open(f, "r")
        except av.FFmpegError as e:
            raise InvalidVideoError(f"{uri} is not a readable media file: {e}") from e
        with container:
            yield container


def _main_video_stream(container: av.container.InputContainer, uri: str) -> av.VideoStream:
    candidates = [
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    ]
    if not candidates:
        found = (
            ", ".join(f"{s.type} ({_codec_name(s) or '?'})" for s in container.streams)
            or "no streams"
        )
        raise InvalidVideoError(f"{uri} has no video stream; found: {found}")
    video = candidates[0]
    if video.codec_context is None or not video.codec_context.is_decoder:
        raise UnsupportedCodecError(
            f"{uri}: no decoder for the video codec of stream #{video.index}"
        )
    return video


def _index_packets(
    container: av.container.InputContainer, video: av.VideoStream, uri: str
) -> tuple[list[int], list[int], int, av.Packet | None, int]:
    """Demux every packet: (sorted video pts, keyframe pts, last duration, first keyframe,
    video packets that carry captions: ``_captions.CAPTION_TAG``, no decode needed).

    The other streams' packets are read too (never decoded) to see where the file really
    ends: a cut-off file still demuxes cleanly up to the cut, and only the length its
    header declares gives the truncation away.
    """
    pts_list: list[int] = []
    keyframe_pts: list[int] = []
    durations: dict[int, int] = {}
    first_key: av.Packet | None = None
    before_key = 0  # video packets demuxed before the first keyframe
    end_s = longest_s = 0.0
    samples = 0
    captioned = 0
    try:
        for packet in container.demux():
            if packet.size == 0 or packet.pts is None and packet.dts is None:
                continue  # a flush packet
            ts = packet.pts if packet.pts is not None else packet.dts
            end_s = max(end_s, float((ts + (packet.duration or 0)) * packet.time_base))
            longest_s = max(longest_s, float((packet.duration or 0) * packet.time_base))
            samples += packet.stream_index == video.index  # discarded ones too
            if packet.stream_index != video.index or packet.is_discard:
                continue  # discard: an edit-list-trimmed sample, decoded but never shown
            if packet.pts is None:
                raise InvalidVideoError(
                    f"{uri}: video packet {len(pts_list)} has no pts; "
                    "raw elementary streams without timestamps are not supported"
                )
            pts_list.append(packet.pts)
            durations[packet.pts] = packet.duration or 0
            captioned += CAPTION_TAG in bytes(packet)
            if packet.is_keyframe:
                keyframe_pts.append(packet.pts)
                first_key = first_key or packet
            elif first_key is None:
                before_key += 1
    except av.FFmpegError as e:
        raise InvalidVideoError(
            f"{uri} is damaged or truncated: demuxing failed after {len(pts_list)} "
            f"video packets: {e}"
        ) from e
    _check_complete(container, video, samples, end_s, longest_s, uri)
    if not pts_list:
        raise InvalidVideoError(f"{uri} has a video stream (#{video.index}) but no video frames")
    if first_key is not None:
        _check_starts_on_keyframe(pts_list, before_key, first_key.pts, uri)
    pts_list.sort()
    if len(durations) != len(pts_list):
        dupes = sorted(p for p, n in Counter(pts_list).items() if n > 1)[:5]
        raise InvalidVideoError(f"{uri}: video packets share timestamps (pts {dupes})")
    last = _last_duration(video, pts_list, durations)
    return pts_list, sorted(keyframe_pts), last, first_key, captioned


def _check_complete(
    container: av.container.InputContainer,
    video: av.VideoStream,
    frames: int,
    end_s: float,
    longest_s: float,
    uri: str,
) -> None:
    """A cut-off file demuxes cleanly up to the cut: what its header declares gives it
    away. MP4/MOV count the video samples in the index (exact); every container declares
    a duration, which the packets must reach within one packet (the last packet of a
    stream may carry no duration) and rounding."""
    declared = video.frames if container.format.name.startswith("mov") else 0
    if declared > frames:
        raise InvalidVideoError(
            f"{uri} is truncated: its index lists {declared} video samples, but only "
            f"{frames} are in the file"
        )
    declared_s = container.duration / av.time_base if container.duration else None
    if declared_s is not None and declared_s - end_s > longest_s + _TRUNCATION_SLACK_S:
        raise InvalidVideoError(
            f"{uri} is truncated: its header declares {declared_s:.3f} s, but its packets "
            f"end at {end_s:.3f} s"
        )


def _check_starts_on_keyframe(pts: list[int], before_key: int, key_pts: int, uri: str) -> None:
    """Frames decoded before the first keyframe, or shown before it (open-GOP leading
    pictures), reference pictures the file does not have: FFmpeg drops them. Dropping
    frames is not ours to decide, so such a file (a stream cut mid-GOP) is refused."""
    leading = max(before_key, sum(p < key_pts for p in pts))
    if leading:
        raise InvalidVideoError(
            f"{uri} has {leading} video frames before its first keyframe (cut mid-GOP?): "
            "they cannot be decoded. Cut it at a keyframe, or re-encode it"
        )


def _last_duration(video: av.VideoStream, pts: list[int], durations: dict[int, int]) -> int:
    """How long the last frame shows, in time_base units.

    When the container records the stream's length (MP4) that is the truth: there packet
    durations are DTS steps, not display times. Else the last packet's duration, else the
    average frame step.
    """
    if video.duration and video.start_time is not None:
        end = video.start_time + video.duration
        if end > pts[-1]:
            return end - pts[-1]
    if durations[pts[-1]] > 0:
        return durations[pts[-1]]
    return round((pts[-1] - pts[0]) / (len(pts) - 1)) if len(pts) > 1 else 0


@dataclass(frozen=True)
class _FirstFrame:
    """What only a decoded frame tells: FFmpeg puts the display matrix (rotation), the
    interlacing flags and the HDR static metadata on frames, not on streams."""

    rotation: int = 0
    interlaced: bool = False
    hdr: HdrMetadata | None = None


def _first_frame(video: av.VideoStream, first_key: av.Packet | None, uri: str) -> _FirstFrame:
    """Decode the first keyframe only: what it carries, and one decoded frame proves up
    front that the stream is decodable."""
    if first_key is None:
        return _FirstFrame()  # no keyframe flags at all: decoding from the start will tell
    try:
        frames = video.decode(first_key) + video.decode(None)
    except av.FFmpegError as e:
        raise InvalidVideoError(f"{uri}: the first video keyframe does not decode: {e}") from e
    finally:
        video.codec_context.flush_buffers()
    if not frames:
        return _FirstFrame()
    frame = frames[0]
    side = {item.type.name: bytes(item) for item in frame.side_data}
    return _FirstFrame(
        int(frame.rotation), bool(frame.interlaced_frame), HdrMetadata.from_side_data(side)
    )


# AVFieldOrder -> the field displayed first (FFmpeg's AV_FIELD_*: TT top coded and shown
# first, BB bottom, TB top coded first but bottom shown first, BT the reverse).
_FIELD_ORDERS = {1: "progressive", 2: "tff", 3: "bff", 4: "bff", 5: "tff"}


def _field_order(video: av.VideoStream, first: _FirstFrame) -> str:
    """progressive, tff, bff; ``interlaced`` when the frames say so without an order;
    ``unknown`` when nothing says."""
    order = _FIELD_ORDERS.get(video.codec_context.field_order, "unknown")
    if order in ("unknown", "progressive") and first.interlaced:
        return "interlaced"
    return order


def _timecode(container: av.container.InputContainer, video: av.VideoStream) -> str | None:
    """The start timecode: the video stream's tag, a timecode track's, or the file's."""
    others = [s for s in container.streams if s.type == "data"]
    for tags in (video.metadata, *(s.metadata for s in others), container.metadata):
        value = next((v for k, v in tags.items() if k.lower() == "timecode"), None)
        if value:
            return value
    return None


def _video_info(
    video: av.VideoStream,
    frame_pts: list[int],
    keyframe_pts: list[int],
    last_duration: int,
    first: _FirstFrame,
) -> VideoStreamInfo:
    ctx = video.codec_context
    pix_fmt = ctx.pix_fmt or "yuv420p"
    rank = {p: i for i, p in enumerate(frame_pts)}
    time_base = video.time_base
    span = frame_pts[-1] - frame_pts[0] + last_duration
    return VideoStreamInfo(
        index=video.index,
        codec=_codec_name(video) or "unknown",
        width=ctx.width,
        height=ctx.height,
        pix_fmt=pix_fmt,
        bit_depth=max(c.bits for c in av.VideoFormat(pix_fmt).components),
        average_rate=video.average_rate,
        real_rate=video.base_rate,
        time_base=time_base,
        rotation=first.rotation,
        sample_aspect_ratio=video.sample_aspect_ratio or None,
        colour=Colour(ctx.color_range, ctx.color_primaries, ctx.color_trc, ctx.colorspace),
        frame_count=len(frame_pts),
        duration_s=float(span * time_base),
        language=video.language,
        frame_pts=tuple(frame_pts),
        last_frame_duration=last_duration,
        keyframes=tuple(Keyframe(rank[p], p) for p in keyframe_pts),
        field_order=_field_order(video, first),
        hdr=first.hdr,
    )


def _stream_info(stream: av.stream.Stream) -> StreamInfo:
    name = _codec_name(stream)
    if stream.type == "audio":
        ctx = stream.codec_context
        return AudioStreamInfo(
            stream.index,
            name or "unknown",
            ctx.sample_rate,
            ctx.channels,
            ctx.layout.name,
            stream.time_base,
            stream.language,
        )
    if stream.type == "subtitle":
        return SubtitleStreamInfo(
            stream.index, name or "unknown", stream.time_base, stream.language
        )
    # A timecode track (MP4/MOV tmcd) holds one sample: the start timecode, also on the video.
    kind = "timecode" if "timecode" in stream.metadata else stream.type
    return OtherStreamInfo(stream.index, kind, name, stream.time_base)


def _codec_name(stream: av.stream.Stream) -> str | None:
    """The codec's own name ("av1", "subrip"), not its decoder's ("libdav1d", "srt")."""
    ctx = stream.codec_context
    return ctx.codec.canonical_name if ctx is not None else None
