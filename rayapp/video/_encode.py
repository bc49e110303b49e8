"""ChunkEncoder: a run of consecutive upscaled frames -> one self-contained encoded chunk.

A chunk is an MP4 holding one video stream that starts with a keyframe. MP4 because it
keeps each packet's pts *and* dts exactly in (a multiple of) the source time base, for
every codec we offer; Matroska would round to milliseconds and drop B-frame dts. Frames
keep their source pts, so the assembled output has the source timeline, VFR included.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType

import av
import numpy as np

from rayapp import storage
from rayapp.errors import FrameAccountingError, VideoError
from rayapp.video._captions import CAPTION_CODECS, captioned_packet
from rayapp.video._codecs import EncodeSettings, before_open, bit_depth
from rayapp.video._colour import sws_matrix, sws_range
from rayapp.video._info import VideoStreamInfo
from rayapp.video._planes import yuv420_planes

__all__ = ["Chunk", "ChunkEncoder", "chunk_uri"]

log = logging.getLogger(__name__)

CHUNK_SUFFIX = ".mp4"
# Upscaled frames have no fields (a source's woven ones, not deinterlaced, are scaled as
# one picture): chunks are coded and tagged progressive (AV_FIELD_PROGRESSIVE).
_PROGRESSIVE = 1


@dataclass(frozen=True)
class Chunk:
    """An encoded chunk at ``uri`` holding frames ``[first_frame_index, stop)``."""

    uri: str
    first_frame_index: int
    frame_count: int

    @property
    def stop(self) -> int:
        return self.first_frame_index + self.frame_count


def chunk_uri(work_uri: str, first_frame_index: int) -> str:
    """Where the chunk starting at ``first_frame_index`` lives under a job's work prefix."""
    return storage.join(work_uri, f"chunk-{first_frame_index:09d}{CHUNK_SUFFIX}")


class ChunkEncoder:
    """Encode frames (HxWx3 RGB, uint8 or uint16; or ``planes``, when not None: its own
    8-bit 4:2:0 planes, made on a GPU) of consecutive frame_index into ``uri``.

    Use as a context manager; the chunk is published at ``uri`` atomically on a clean exit
    and never on an exception. ``chunk`` describes it afterwards::

        with ChunkEncoder(uri, source.video, height=96, width=128) as enc:
            enc.write(image, frame_index=i, pts=pts)
        chunk = enc.chunk
    """

    def __init__(
        self,
        uri: str,
        source: VideoStreamInfo,
        *,
        height: int,
        width: int,
        settings: EncodeSettings | None = None,
        threads: int = 0,
        thread_type: str | None = None,
    ) -> None:
        self.uri = uri
        self.source = source
        self.height, self.width = height, width
        self.settings = settings or EncodeSettings()
        self.threads = threads  # 0: as many as the encoder finds useful
        self.thread_type = thread_type  # SLICE or FRAME threads; None: PyAV's (SLICE)
        self.pix_fmt = self.settings.resolve_pix_fmt(source)
        self.settings.check_size(height, width, self.pix_fmt)
        self._dtype = np.uint16 if bit_depth(self.pix_fmt) > 8 else np.uint8
        self.planes = yuv420_planes(self.pix_fmt, source.colour)
        self._stack = contextlib.ExitStack()
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._first: int | None = None
        self._count = 0
        self._last_pts: int | None = None
        self._last_image: np.ndarray | None = None
        self._last_frame: av.VideoFrame | None = None
        self._captions: dict[int, bytes] = {}  # by pts, until the encoder outputs the frame
        self.chunk: Chunk | None = None

    @property
    def dtype(self) -> type[np.generic]:
        """The frame dtype ``write`` takes: uint16 when the output keeps >8 bits."""
        return self._dtype

    def __enter__(self) -> ChunkEncoder:
        tmp = self._stack.enter_context(storage.atomic_write(self.uri, suffix=CHUNK_SUFFIX))
        # The movie timescale defaults to 1/1000 s; an edit list in it (B-frames) would round
        # a chunk's first pts to the millisecond. Use the source time base instead.
        self._container = av.open(
            tmp, "w", format="mp4", options=movie_timescale_options(self.source.time_base)
        )
        self._stack.callback(self._container.close)
        self._stream = self._add_stream(self._container)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if exc is None:
            try:
                self._finish()
            except BaseException as e:
                self._stack.__exit__(type(e), e, e.__traceback__)
                raise
        return self._stack.__exit__(exc_type, exc, tb)

    def write(
        self, image: np.ndarray, *, frame_index: int, pts: int, captions: bytes = b""
    ) -> None:
        """Encode one frame; frame_index must follow the previous one and pts increase.
        ``captions``: the source frame's caption triplets, written into its access unit
        (H.264, HEVC, AV1: ``_captions.with_captions``)."""
        if self._stream is None or self._container is None:
            raise RuntimeError("ChunkEncoder.write() outside its 'with' block")
        self._check_order(frame_index, pts)
        rgb = (self.height, self.width, 3)
        planes = self.planes.shape(self.height, self.width) if self.planes else None
        if image.shape not in (rgb, planes) or image.dtype != self._dtype:
            expected = f"{rgb}" + (f" (or {planes} planes)" if planes else "")
            raise VideoError(
                f"Expected a {expected} {np.dtype(self._dtype).name} frame for {self.uri}, "
                f"but got {image.shape} {image.dtype} (frame {frame_index})"
            )
        if image is not self._last_image:  # a repeat is converted once, encoded again
            self._last_image, self._last_frame = image, self._to_yuv(image)
        frame = self._last_frame
        frame.pts = pts
        frame.time_base = self.source.time_base
        if captions:
            if self.settings.spec.family not in CAPTION_CODECS:
                raise VideoError(f"{self.settings.spec.name} chunks cannot carry captions")
            self._captions[pts] = captions
        self._mux(self._stream.encode(frame))
        self._count += 1

    def _mux(self, packets: list[av.Packet]) -> None:
        """Mux the encoder's packets, each with its frame's captions (by pts) when any."""
        for packet in packets:
            captions = self._captions.pop(packet.pts, b"") if packet.pts is not None else b""
            self._container.mux(captioned_packet(packet, captions, self.settings.spec.family))

    def _to_yuv(self, image: np.ndarray) -> av.VideoFrame:
        if image.ndim == 2:  # the planes themselves
            return av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(image), "yuv420p")
        if image.itemsize == 1 and image.flags.c_contiguous:
            frame = av.VideoFrame.from_numpy_buffer(image, format="rgb24")  # no copy
        else:
            frame = av.VideoFrame.from_ndarray(
                image, format="rgb24" if image.itemsize == 1 else "rgb48le"
            )
        return frame.reformat(
            format=self.pix_fmt,
            src_color_range="JPEG",
            dst_colorspace=sws_matrix(self.source.colour.matrix),
            dst_color_range=sws_range(self.source.colour.range),
            # Chroma subsampled as the 2x2 average: measured at 2560x1920, the conversion
            # takes a fifth less than swscale's default (bilinear), and conversion and x264
            # medium together make ~12 % more frames/s.
            interpolation="AREA",
            threads=self.threads,  # the encoder's share of the CPUs (0: every CPU)
        )

    def _check_order(self, frame_index: int, pts: int) -> None:
        if self._first is None:
            self._first = frame_index
        elif frame_index != self._first + self._count:
            raise FrameAccountingError(
                f"{self.uri}: expected frame {self._first + self._count} next, "
                f"but got frame {frame_index}"
            )
        if self._last_pts is not None and pts <= self._last_pts:
            raise FrameAccountingError(
                f"{self.uri}: frame {frame_index} has pts {pts}, not after the previous "
                f"frame's pts {self._last_pts}"
            )
        self._last_pts = pts

    def _finish(self) -> None:
        if self._stream is None or self._container is None:
            raise RuntimeError("ChunkEncoder finished without being entered")
        if self._first is None:
            raise FrameAccountingError(f"{self.uri}: no frames were written to the chunk")
        # Flush: the encoder holds back frames (lookahead, B-frames) until told the end.
        self._mux(self._stream.encode(None))
        self.chunk = Chunk(self.uri, self._first, self._count)
        log.debug("encoded %s: frames %d-%d", self.uri, self._first, self._first + self._count - 1)

    def _add_stream(self, container: av.container.OutputContainer) -> av.VideoStream:
        src, settings = self.source, self.settings
        before_open(settings.codec)
        stream = container.add_stream(settings.codec, rate=src.average_rate or src.real_rate)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, self.pix_fmt
        # Encoder and stream both count in the source's time base, so pts pass through.
        stream.codec_context.time_base = src.time_base
        stream.time_base = src.time_base
        ctx = stream.codec_context
        colour = src.colour
        ctx.color_range, ctx.color_primaries = colour.range, colour.primaries
        ctx.color_trc, ctx.colorspace = colour.transfer, colour.matrix
        ctx.field_order = _PROGRESSIVE
        if src.sample_aspect_ratio:
            stream.sample_aspect_ratio = src.sample_aspect_ratio
        ctx.thread_count = self.threads  # libav's own default would be 1
        if self.thread_type:
            ctx.thread_type = self.thread_type
        ctx.options = settings.encoder_options(src.hdr)
        return stream


def movie_timescale_options(time_base: Fraction) -> dict[str, str]:
    if time_base.numerator == 1 and time_base.denominator <= 2**31 - 1:
        return {"movie_timescale": str(time_base.denominator)}
    return {}


def frame_depth(settings: EncodeSettings, source: VideoStreamInfo) -> int:
    """Bits per channel of the RGB frames to decode and feed: 16 when the chunk keeps >8 bits."""
    return 16 if bit_depth(settings.resolve_pix_fmt(source)) > 8 else 8
