"""decode_segment: exactly one segment's frames, in presentation order, as RGB arrays.

The decoder is started at the segment's keyframe and its output is filtered by pts:
frames presented before the segment (an open GOP's leading frames, or whatever the seek
landed on) are skipped, and decoding stops at the first frame presented after it. Frames
come out of the decoder in presentation order, so once a frame past the segment appears
none of the segment's frames can still be pending.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence, Set
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import numpy as np

from rayapp import storage
from rayapp.errors import ConfigError, InvalidVideoError
from rayapp.video._captions import frame_captions
from rayapp.video._colour import to_rgb
from rayapp.video._info import MediaInfo
from rayapp.video._segments import Deinterlace, Segment, plan_segments

__all__ = ["DecodedFrame", "decode_encoded_frames", "decode_frames_at", "decode_segment"]

log = logging.getLogger(__name__)

_EVERY_KEYFRAME_S = 1e-9  # a segment target this short cuts at every keyframe


@dataclass(frozen=True)
class DecodedFrame:
    """One source frame: ``image`` is HxWx3 RGB, uint8 (depth 8) or uint16 (depth 16);
    ``captions`` its CEA-608/708 caption triplets (``rayapp.video._captions``), b"" none."""

    frame_index: int
    pts: int
    image: np.ndarray
    captions: bytes = b""


class _SeekMissed(Exception):
    """The seek landed after the segment's first frame (a demuxer indexing by dts)."""


def decode_segment(
    uri: str, segment: Segment, *, depth: int = 8, only: Set[int] | None = None
) -> Iterator[DecodedFrame]:
    """Yield the frames ``segment.start .. segment.stop - 1`` of ``uri``, each exactly once
    (``only``: just those frame indices; the others are decoded, checked and dropped, never
    converted to RGB).

    ``depth=16`` yields uint16 RGB (full 0..65535 scale) for >8-bit sources.
    Raises ``InvalidVideoError`` if the file does not deliver exactly these frames.
    """
    if depth not in (8, 16):
        raise ConfigError(f"Expected decode depth 8 or 16, but got {depth!r}")
    frames = _seeking(uri, _with_neighbours(segment))
    window = segment.deinterlace
    if window is not None:
        frames = _deinterlaced(frames, window, uri)
    double = window is not None and window.double
    every = segment.every
    # At film rate: each source frame kept, as the frame planned that shows it.
    planned = {} if window is None else {s: segment.start + n for n, s in enumerate(window.sources)}
    for index, pts, frame in frames:
        if planned:
            index = planned.get(index, -1)  # a repeated film frame dropped: -1
        index *= every  # the first of the frames planned from it
        if segment.start <= index < segment.stop and (only is None or index in only):
            if double or planned or every > 1:  # its pts on the timeline planned
                pts = segment.frame_pts[index - segment.start]
            # A source frame's captions go with its first field's frame only.
            captions = b"" if double and index % 2 else frame_captions(frame)
            yield DecodedFrame(index, pts, to_rgb(frame, depth), captions)


def _seeking(uri: str, segment: Segment) -> Iterator[tuple[int, int, av.VideoFrame]]:
    try:
        yield from _decode(uri, segment, segment.seek_pts)
    except _SeekMissed:
        # Only raised before anything was yielded, so a restart cannot duplicate frames.
        log.warning(
            "seek for segment %d of %s landed late; decoding from the start", segment.index, uri
        )
        yield from _decode(uri, segment, None)


def _with_neighbours(segment: Segment) -> Segment:
    """The segment to decode, in the source's frames: a deinterlaced one with the frames
    before and after it that its filters read."""
    window, step = segment.deinterlace, segment.step
    if window is None and step == 1:
        return segment
    before, after = (window.before, window.after) if window is not None else ((), ())
    if window is not None and window.sources:  # film rate: source frames first to last shown
        first = window.sources[0]
        return replace(
            segment,
            start=first - len(before),
            stop=first + len(window.source_pts) + len(after),
            seek_pts=window.before_seek_pts if before else None,
            time_base=segment.time_base * 4,  # the source's (film rate counts quarters)
            frame_pts=(*before, *window.source_pts, *after),
        )
    seek = segment.seek_pts // step if segment.seek_pts is not None else None
    return replace(  # in the source's frames (every step-th frame planned)
        segment,
        start=segment.start // step - len(before),
        stop=segment.stop // step + len(after),
        seek_pts=window.before_seek_pts if before else seek,
        every=1,
        time_base=segment.time_base * step,
        frame_pts=(*before, *(p // step for p in segment.frame_pts[::step]), *after),
    )


def _deinterlaced(
    frames: Iterator[tuple[int, int, av.VideoFrame]], window: Deinterlace, uri: str
) -> Iterator[tuple[int, int, av.VideoFrame]]:
    """``bwdif``, one frame per frame: each frame out is the frame in at that place (its
    index and pts), both fields made whole from its own, its neighbours' and the frames'
    motion (``window.double``: a frame per field, each field made whole). With
    ``window.ivtc``, ``fieldmatch`` first: each frame's fields matched with
    the neighbouring frame's that belong to the same film frame, and bwdif only on the
    frames it still finds combed. The graph is built on the first frame (its size and
    format)."""
    graph: av.filter.Graph | None = None
    pending: list[tuple[int, int]] = []
    for index, pts, frame in frames:
        if graph is None:
            graph = _fields_graph(frame, window)
        if window.double:  # a frame out per field: the frames 2i and 2i + 1 planned
            pending += [(2 * index, 2 * pts), (2 * index + 1, 2 * pts)]
        else:
            pending.append((index, pts))
        graph.push(frame)
        yield from _pulled(graph, pending)
    if graph is not None:
        graph.push(None)
        yield from _pulled(graph, pending)
    if pending:
        raise InvalidVideoError(f"{uri}: the deinterlacer held back {len(pending)} frames")


def _fields_graph(frame: av.VideoFrame, window: Deinterlace) -> av.filter.Graph:
    graph = av.filter.Graph()
    chain = [
        graph.add_buffer(
            width=frame.width,
            height=frame.height,
            format=frame.format.name,
            time_base=frame.time_base or Fraction(1, 90000),  # the filters keep none of it
        )
    ]
    parity = window.parity
    if window.ivtc:  # its combed frames come out flagged interlaced, for bwdif
        chain.append(graph.add("fieldmatch", f"order={parity}:combmatch=full"))
    deint = "interlaced" if window.ivtc else "all"
    mode = "send_field" if window.double else "send_frame"
    chain.append(graph.add("bwdif", f"mode={mode}:parity={parity}:deint={deint}"))
    chain.append(graph.add("buffersink"))
    for a, b in zip(chain, chain[1:], strict=False):
        a.link_to(b)
    graph.configure()
    return graph


def _pulled(
    graph: av.filter.Graph, pending: list[tuple[int, int]]
) -> Iterator[tuple[int, int, av.VideoFrame]]:
    while pending:
        try:
            out = graph.pull()
        except (BlockingIOError, EOFError):
            return
        index, pts = pending.pop(0)
        yield index, pts, out


def decode_frames_at(
    info: MediaInfo,
    indices: Iterable[int],
    *,
    depth: int = 8,
    deinterlace: Deinterlace | None = None,
    every: int = 1,
) -> dict[int, np.ndarray]:
    """The frames ``indices`` of ``info``'s video (RGB, as ``decode_segment`` gives them,
    deinterlaced as ``deinterlace`` says when given): each decoded from the keyframe
    before it, and only as far as it (and the frames after it that the filters read).
    ``every``: ``info`` plans that many frames per source frame (``Segment.every``); only
    the first of each can be asked for."""
    wanted = sorted(set(indices))
    if every > 1 and (made := [i for i in wanted if i % every]):
        raise ValueError(f"Frames {made[:5]} are made by the job, not decoded from the source")
    images: dict[int, np.ndarray] = {}
    for segment in plan_segments(info, _EVERY_KEYFRAME_S, deinterlace=deinterlace, every=every):
        inside = [i for i in wanted if segment.start <= i < segment.stop]
        if not inside:
            continue
        stop = inside[-1] + 1
        window, step = segment.deinterlace, segment.step
        stop += -stop % step  # a source frame's planned frames whole
        part = replace(segment, stop=stop, frame_pts=segment.frame_pts[: stop - segment.start])
        if window is not None and window.sources and stop < segment.stop:
            shown = stop - segment.start  # the part's frames: up to its last source frame
            upto = window.sources[shown - 1] - window.sources[0] + 1
            after = (*window.source_pts[upto:], *window.after)[: window.reach]
            window = replace(
                window,
                sources=window.sources[:shown],
                source_pts=window.source_pts[:upto],
                after=tuple(after),
            )
            part = replace(part, deinterlace=window)
        elif window is not None and stop < segment.stop:
            rest = [p // step for p in segment.frame_pts[stop - segment.start :: step]]
            after = (*rest, *window.after)[: window.reach]
            part = replace(part, deinterlace=replace(window, after=tuple(after)))
        for frame in decode_segment(info.uri, part, depth=depth, only=set(inside)):
            images[frame.frame_index] = frame.image
    return images


def decode_encoded_frames(
    uri: str, frame_pts: Sequence[int], indices: Iterable[int], *, depth: int = 8
) -> dict[int, np.ndarray]:
    """The frames ``indices`` (RGB, as ``decode_segment`` gives them) of a file whose one
    video stream holds the frames ``frame_pts`` (in presentation order), decoded from its
    start, as far as the last of them: a chunk this job encoded. An H.264 frame that no
    other frame refers to is skipped unless asked for (x264's B-frames: about half the
    frames at its defaults); the frames asked for are exactly those of a whole decode."""
    wanted = {frame_pts[i]: i for i in indices}
    images: dict[int, np.ndarray] = {}
    decoded = 0
    with storage.open_input(uri) as f, _open(f, uri) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        context = video.codec_context
        skips = context.codec.canonical_name == "h264"
        try:
            for packet in container.demux(video):
                if skips and packet.pts is not None:
                    # Read at each packet's decode, by every decoding thread.
                    context.skip_frame = "DEFAULT" if packet.pts in wanted else "NONREF"
                for frame in video.decode(packet):
                    decoded += 1
                    if frame.pts in wanted:
                        images[wanted[frame.pts]] = to_rgb(frame, depth)
                if len(images) == len(wanted):
                    break
        except av.FFmpegError as e:
            raise InvalidVideoError(f"{uri}: decoding failed: {e}") from e
    if len(images) != len(wanted):
        missing = sorted(set(wanted.values()) - set(images))
        raise InvalidVideoError(f"{uri}: frames {missing} were not decoded")
    log.debug("%s: %d frames decoded for the %d asked for", uri, decoded, len(wanted))
    return images


def _decode(
    uri: str, segment: Segment, seek_pts: int | None
) -> Iterator[tuple[int, int, av.VideoFrame]]:
    """``segment``'s frames as decoded: (frame_index, pts, frame), each exactly once."""
    expected = segment.frame_pts
    position = 0  # index into expected of the next frame due
    with storage.open_input(uri) as f, _open(f, uri) as container:
        video = container.streams[segment.stream_index]
        video.thread_type = "AUTO"
        if seek_pts is not None:
            container.seek(seek_pts, stream=video, backward=True, any_frame=False)
        for frame in _frames(container, video, uri, segment):
            pts = frame.pts
            if pts is None:
                raise InvalidVideoError(f"{uri}: decoder returned a frame without pts")
            if pts < expected[0]:
                continue
            if pts > expected[-1]:
                break
            if pts != expected[position]:
                if position == 0 and seek_pts is not None and pts > expected[0]:
                    raise _SeekMissed
                raise InvalidVideoError(
                    f"{uri}: expected frame {segment.start + position} (pts {expected[position]})"
                    f" of segment {segment.index}, but the decoder produced pts {pts}"
                )
            yield segment.start + position, pts, frame
            position += 1
            if position == len(expected):
                return
    if position < len(expected):
        raise InvalidVideoError(
            f"{uri} is truncated or damaged: segment {segment.index} should hold frames "
            f"{segment.start}-{segment.stop - 1}, but only {position} of "
            f"{len(expected)} decoded"
        )


def _open(f: object, uri: str) -> av.container.InputContainer:
    try:
        return av.open(f, "r")
    except av.FFmpegError as e:
        raise InvalidVideoError(f"{uri} is not a readable media file: {e}") from e


def _frames(
    container: av.container.InputContainer, video: av.VideoStream, uri: str, segment: Segment
) -> Iterator[av.VideoFrame]:
    try:
        for packet in container.demux(video):
            # The final empty packet from demux flushes the decoder's delayed frames.
            yield from video.decode(packet)
    except av.FFmpegError as e:
        raise InvalidVideoError(
            f"{uri}: decoding segment {segment.index} (frames {segment.start}-"
            f"{segment.stop - 1}) failed: {e}"
        ) from e
