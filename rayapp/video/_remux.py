"""Packet sources for the final remux: chunk video packets, and the source's other streams.

Video packets get the source timeline back exactly: each chunk packet's pts is mapped
into the source time base (it must land on a source frame's pts, or the chunk is not
what it claims), and its duration is the source frame's. Chunks were encoded
independently, so where one chunk's first DTS (shifted back by the encoder's B-frame
delay) would not follow the previous chunk's last DTS it is nudged forward by a tick;
a muxer needs strictly increasing DTS, players only look at the pts.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from fractions import Fraction

import av

from rayapp import storage
from rayapp.errors import ContainerError, FrameAccountingError, InvalidVideoError
from rayapp.video._containers import OutputPlan
from rayapp.video._encode import Chunk
from rayapp.video._info import MediaInfo, VideoStreamInfo
from rayapp.video._subtitles import SubtitleConverter

__all__ = ["SourcePackets", "VideoPackets", "time_key"]

log = logging.getLogger(__name__)


def time_key(packet: av.Packet) -> Fraction:
    """When a packet is due in a muxer's interleaving: its dts (else pts), in seconds."""
    ts = packet.dts if packet.dts is not None else packet.pts
    return ts * packet.time_base


def _rescale(value: int, src: Fraction, dst: Fraction) -> int:
    return round(value * src / dst)


class VideoPackets:
    """The video packets of ``chunks`` (ordered, contiguous), on the source timeline."""

    def __init__(self, chunks: Sequence[Chunk], source: VideoStreamInfo) -> None:
        self.chunks = chunks
        self.source = source
        with _open_chunk(chunks[0]) as container:
            self._signature = _signature(container.streams.video[0], chunks[0])
        self.codec, self.width, self.height = self._signature[:3]

    def add_stream(self, out: av.container.OutputContainer) -> av.VideoStream:
        with _open_chunk(self.chunks[0]) as container:
            # opaque: take the codec parameters as they are. Without it PyAV looks up an
            # *encoder* by the decoder's name, and there is none for e.g. libdav1d (AV1).
            stream = out.add_stream_from_template(container.streams.video[0], opaque=True)
        # Ask for the source time base; the muxer may refine it (MP4 scales it up exactly).
        stream.time_base = self.source.time_base
        return stream

    def packets(self, out_stream: av.VideoStream) -> Iterator[av.Packet]:
        out_tb = out_stream.time_base
        last_dts: int | None = None
        for chunk in self.chunks:
            for packet in self._chunk_packets(chunk, out_tb):
                if last_dts is not None and packet.dts <= last_dts:
                    packet.dts = last_dts + 1
                    if packet.dts > packet.pts:
                        raise ContainerError(
                            f"{chunk.uri}: cannot order its decode timestamps after the "
                            f"previous chunk's within the {out_tb} time base"
                        )
                last_dts = packet.dts
                packet.stream = out_stream
                yield packet

    def _chunk_packets(self, chunk: Chunk, out_tb: Fraction) -> Iterator[av.Packet]:
        src = self.source
        expected = src.frame_pts[chunk.first_frame_index : chunk.stop]
        durations = _frame_durations(src, chunk)
        found: list[int] = []
        with _open_chunk(chunk) as container:
            stream = container.streams.video[0]
            signature = _signature(stream, chunk)
            if signature != self._signature:
                raise ContainerError(
                    f"{chunk.uri} was encoded differently ({signature[:4]}) from "
                    f"{self.chunks[0].uri} ({self._signature[:4]}); one stream cannot hold both"
                )
            chunk_tb = stream.time_base
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                pts = packet.pts * chunk_tb / src.time_base
                if pts.denominator != 1 or pts not in durations:
                    raise FrameAccountingError(
                        f"{chunk.uri}: packet pts {packet.pts} ({chunk_tb}) is no source frame "
                        f"between frames {chunk.first_frame_index} and {chunk.stop - 1}"
                    )
                found.append(int(pts))
                dts = packet.dts if packet.dts is not None else packet.pts
                packet.pts = _rescale(int(pts), src.time_base, out_tb)
                packet.dts = _rescale(dts, chunk_tb, out_tb)
                packet.duration = _rescale(durations[int(pts)], src.time_base, out_tb)
                packet.time_base = out_tb
                yield packet
        if sorted(found) != list(expected):
            raise FrameAccountingError(
                f"{chunk.uri} should hold frames {chunk.first_frame_index}-{chunk.stop - 1} "
                f"({len(expected)} frames), but holds {len(found)} "
                f"({len(set(found) & set(expected))} of them the expected ones)"
            )


def _frame_durations(src: VideoStreamInfo, chunk: Chunk) -> dict[int, int]:
    pts = src.frame_pts
    return {
        pts[i]: (pts[i + 1] - pts[i]) if i + 1 < len(pts) else src.last_frame_duration
        for i in range(chunk.first_frame_index, min(chunk.stop, len(pts)))
    }


def _signature(stream: av.VideoStream, chunk: Chunk) -> tuple[object, ...]:
    ctx = stream.codec_context
    if ctx is None:
        raise InvalidVideoError(f"{chunk.uri} has no decodable video stream")
    codec = ctx.codec.canonical_name
    return (codec, ctx.width, ctx.height, ctx.pix_fmt, stream.time_base, ctx.extradata)


@contextlib.contextmanager
def _open_chunk(chunk: Chunk) -> Iterator[av.container.InputContainer]:
    with storage.open_input(chunk.uri) as f:
        try:
            container = av.open(f, "r")
        except av.FFmpegError as e:
            raise InvalidVideoError(f"Chunk {chunk.uri} is not readable: {e}") from e
        with container:
            if not container.streams.video:
                raise InvalidVideoError(f"Chunk {chunk.uri} has no video stream")
            yield container


class SourcePackets:
    """The source's audio and subtitle packets, copied (or subtitles converted) per plan."""

    def __init__(self, source: MediaInfo, plan: OutputPlan, stack: contextlib.ExitStack) -> None:
        self.source = source
        self.plan = plan
        f = stack.enter_context(storage.open_input(source.uri))
        self._container = stack.enter_context(av.open(f, "r"))
        self._copies: dict[int, av.stream.Stream] = {}
        self._converters: dict[int, SubtitleConverter] = {}

    def add_streams(self, out: av.container.OutputContainer) -> None:
        streams = self._container.streams
        for index in self.plan.copy_streams:
            template = streams[index]
            stream = out.add_stream_from_template(template)
            _copy_stream_tags(template, stream)
            self._copies[index] = stream
        for index, codec in self.plan.convert_subtitles:
            converter = SubtitleConverter(streams[index], out, codec)
            _copy_stream_tags(streams[index], converter.stream)
            self._converters[index] = converter

    def packets(self) -> Iterator[av.Packet]:
        selected = [self._container.streams[i] for i in (*self._copies, *self._converters)]
        for packet in self._container.demux(selected):
            if packet.size == 0 or (packet.pts is None and packet.dts is None):
                continue
            index = packet.stream_index
            if index in self._copies:
                packet.stream = self._copies[index]
                yield packet
            else:
                yield from self._converters[index].convert(packet)


def _copy_stream_tags(src: av.stream.Stream, dst: av.stream.Stream) -> None:
    for key in ("language", "title", "handler_name"):
        if key in src.metadata:
            dst.metadata[key] = src.metadata[key]
    dst.disposition = src.disposition
