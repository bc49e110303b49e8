"""Small real media for tests and demos: PyAV-generated videos and a trivial upscaler.

Every generated frame carries its own frame index as a visible pattern: a 4x8 grid of
cells, the top two rows holding the 16 bits of the index and the bottom two rows their
complement. The cells are big and high-contrast, so the index survives lossy encoding,
chroma subsampling and any upscale, and :func:`read_frame_index` reads it back by
position (it is resolution independent). The complement turns a misread into an error
instead of a wrong number.

This module lives in the package (not under ``tests/``) because Ray workers import
:class:`NearestUpscaler` by name.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from rayapp import storage
from rayapp.video.subtitles import add_text_subtitle_stream

__all__ = [
    "Decoded",
    "NearestUpscaler",
    "SubtitleCue",
    "decode_video",
    "frame_pattern",
    "make_audio_only",
    "make_test_video",
    "read_frame_index",
    "stream_packets",
    "subtitle_cues",
]

log = logging.getLogger(__name__)

_GRID_ROWS, _GRID_COLS = 4, 8
_BITS = 16
_HIGH, _LOW = 215, 40  # comfortably inside tv range, far from the 128 threshold


@dataclass(frozen=True)
class SubtitleCue:
    """One subtitle cue; times in milliseconds."""

    start_ms: int
    end_ms: int
    text: str


class NearestUpscaler:
    """An identity-like :class:`~rayapp.video.FrameUpscaler`: nearest-neighbour repeat.

    frames: NHWC RGB uint8 or uint16 -> NHWC of the same dtype, ``scale`` times larger.
    """

    def __init__(self, scale: int = 2) -> None:
        if scale < 1:
            raise ValueError(f"Expected an integer scale >= 1, but got {scale!r}")
        self.scale = scale

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return height * self.scale, width * self.scale

    def upscale_batch(self, frames: np.ndarray) -> np.ndarray:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"Expected NHWC frames with 3 channels, but got {frames.shape}")
        return frames.repeat(self.scale, axis=1).repeat(self.scale, axis=2)


def frame_pattern(
    index: int, height: int, width: int, *, texture: bool = False, seed: int = 0
) -> np.ndarray:
    """An HxWx3 uint8 RGB frame showing ``index`` as the bit-grid pattern."""
    if not 0 <= index < 2**_BITS:
        raise ValueError(f"Expected a frame index in [0, {2**_BITS}), but got {index}")
    bits = [(index >> b) & 1 for b in range(_BITS)]
    cells = np.array(bits + [1 - b for b in bits], dtype=np.float32).reshape(_GRID_ROWS, -1)
    rows = (np.arange(height) * _GRID_ROWS) // height
    cols = (np.arange(width) * _GRID_COLS) // width
    level = np.where(cells[rows][:, cols] > 0, _HIGH, _LOW).astype(np.float32)
    rgb = np.repeat(level[:, :, None], 3, axis=2)
    # A gentle tint, so chroma is not trivially flat and colour conversions show.
    rgb += np.array([8.0, 0.0, -8.0], dtype=np.float32)
    if texture:
        rgb += _texture(height, width, index, seed)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def read_frame_index(image: np.ndarray) -> int:
    """Read the index back from a frame made by :func:`frame_pattern` (any size, uint8/16)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"Expected an HxWx3 image, but got {image.shape}")
    height, width = image.shape[:2]
    gray = image.astype(np.float32).mean(axis=2)
    if image.dtype == np.uint16:
        gray /= 257.0
    values = []
    for r in range(_GRID_ROWS):
        for c in range(_GRID_COLS):
            # Centre half of each cell only: edges blur under compression and scaling.
            y0, y1 = (4 * r + 1) * height // 16, (4 * r + 3) * height // 16
            x0, x1 = (4 * c + 1) * width // 32, (4 * c + 3) * width // 32
            values.append(int(gray[y0:y1, x0:x1].mean() > 128))
    bits, check = values[:_BITS], values[_BITS:]
    if any(b == k for b, k in zip(bits, check, strict=True)):
        raise ValueError(f"Frame does not carry a readable index pattern: cells {values}")
    return sum(b << i for i, b in enumerate(bits))


@dataclass(frozen=True)
class Decoded:
    """What a file's first video stream shows: pts, time base and the pattern indices."""

    pts: list[int]
    time_base: Fraction
    indices: list[int]


@contextlib.contextmanager
def _open(uri: str) -> Iterator[av.container.InputContainer]:
    """Any fsspec URI (local, s3://, memory://) as a PyAV input container."""
    with storage.open_input(uri) as f, av.open(f) as container:
        yield container


def decode_video(uri: str) -> Decoded:
    with _open(uri) as container:
        stream = container.streams.video[0]
        frames = [
            (f.pts, read_frame_index(f.to_ndarray(format="rgb24")))
            for f in container.decode(stream)
        ]
        return Decoded([p for p, _ in frames], stream.time_base, [i for _, i in frames])


def stream_packets(uri: str, kind: str) -> list[av.Packet]:
    with _open(uri) as container:
        streams = [s for s in container.streams if s.type == kind]
        # demux() with no stream would mean every stream.
        return [p for p in container.demux(streams) if p.size] if streams else []


def subtitle_cues(uri: str) -> list[tuple[int, int, bytes]]:
    """(start_ms, end_ms, text) of every non-empty cue of the first subtitle stream."""
    cues = []
    with _open(uri) as container:
        stream = container.streams.subtitles[0]
        for packet in container.demux(stream):
            if not packet.size:
                continue
            start = round(packet.pts * packet.time_base * 1000)
            end = start + round(packet.duration * packet.time_base * 1000)
            cues += [(start, end, s.dialogue) for s in stream.decode(packet)]
    return cues


def make_test_video(
    uri: str,
    *,
    frames: int = 24,
    fps: int = 24,
    width: int = 64,
    height: int = 48,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    crf: int = 18,
    gop: int = 12,
    bframes: int = 0,
    open_gop: bool = False,
    vfr: bool = False,
    audio: bool = True,
    subtitles: Sequence[SubtitleCue] = (),
    colour: str | None = None,
    texture: bool = False,
    rotation: int = 0,
) -> str:
    """Write a small test video at ``uri`` (any fsspec URI; format from the extension).

    ``vfr`` spaces frames irregularly (1, 1.5 and 0.5 frame periods, millisecond pts).
    ``colour="bt709"`` tags (and converts with) BT.709 primaries/transfer/matrix, tv range.
    Frame ``i`` shows index ``i`` (see :func:`read_frame_index`). Returns ``uri``.
    """
    with storage.atomic_write(uri) as tmp, av.open(tmp, "w") as container:
        video = _add_video(container, codec, pix_fmt, fps, width, height, crf, gop, bframes)
        video.codec_context.options = _codec_options(codec, crf, gop, bframes, open_gop)
        time_base = Fraction(1, 1000) if vfr else Fraction(1, fps)
        video.codec_context.time_base = time_base
        video.time_base = time_base
        if colour is not None:
            _tag_colour(video, colour)
        if rotation:
            video.set_display_rotation(rotation)
        audio_stream = container.add_stream("aac", rate=16000, layout="mono") if audio else None
        sub_stream = _add_subtitles(container) if subtitles else None

        # The header must be written even when no frame ever is (the zero-frame case).
        container.start_encoding()
        pts_list = _frame_pts(frames, fps, vfr)
        dtype = np.uint16 if "10" in pix_fmt else np.uint8
        for i, pts in enumerate(pts_list):
            image = frame_pattern(i, height, width, texture=texture)
            fmt = "rgb24"
            if dtype == np.uint16:
                image, fmt = image.astype(np.uint16) * 257, "rgb48le"
            frame = av.VideoFrame.from_ndarray(image, format=fmt)
            frame = frame.reformat(
                format=pix_fmt,
                dst_colorspace="itu709" if colour else None,
                dst_color_range="MPEG",
            )
            frame.pts = pts
            frame.time_base = time_base
            container.mux(video.encode(frame))
        container.mux(video.encode())

        if audio_stream is not None:
            end_s = float((pts_list[-1] + 1) * time_base) if vfr and frames else frames / fps
            end_s = end_s or 1.0
            _write_audio(container, audio_stream, end_s)
        if sub_stream is not None:
            _write_subtitles(container, sub_stream, subtitles)
    return uri


def make_audio_only(uri: str, seconds: float = 1.0) -> str:
    """Write an AAC-only file (no video stream) at ``uri``."""
    with storage.atomic_write(uri) as tmp, av.open(tmp, "w") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        _write_audio(container, stream, seconds)
    return uri


def _add_video(
    container: av.container.OutputContainer,
    codec: str,
    pix_fmt: str,
    fps: int,
    width: int,
    height: int,
    crf: int,
    gop: int,
    bframes: int,
) -> av.VideoStream:
    video = container.add_stream(codec, rate=fps)
    video.width, video.height, video.pix_fmt = width, height, pix_fmt
    video.codec_context.gop_size = gop
    video.codec_context.max_b_frames = bframes
    # One thread: tiny frames gain nothing, and the test machine has two shared cores.
    video.codec_context.thread_count = 1
    return video


def _codec_options(codec: str, crf: int, gop: int, bframes: int, open_gop: bool) -> dict[str, str]:
    if codec == "libx264":
        params = f"bframes={bframes}:keyint={gop}:min-keyint={gop}:scenecut=0"
        if open_gop:
            params += ":open-gop=1"
        return {"crf": str(crf), "preset": "veryfast", "x264-params": params}
    if codec == "libx265":
        params = f"bframes={bframes}:keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error"
        if open_gop:
            params += ":open-gop=1"
        return {"crf": str(crf), "preset": "ultrafast", "x265-params": params}
    return {"crf": str(crf)}


def _tag_colour(video: av.VideoStream, colour: str) -> None:
    if colour != "bt709":
        raise ValueError(f"Expected colour 'bt709' or None, but got {colour!r}")
    ctx = video.codec_context
    ctx.color_primaries, ctx.color_trc, ctx.colorspace = 1, 1, 1  # AVCOL_*_BT709
    ctx.color_range = 1  # AVCOL_RANGE_MPEG (tv)


def _frame_pts(frames: int, fps: int, vfr: bool) -> list[int]:
    if not vfr:
        return list(range(frames))
    period_ms = 1000 / fps
    steps = (1.0, 1.5, 0.5, 1.0, 2.0)
    pts, t = [], 0.0
    for i in range(frames):
        pts.append(round(t))
        t += steps[i % len(steps)] * period_ms
    return pts


def _write_audio(
    container: av.container.OutputContainer, stream: av.AudioStream, seconds: float
) -> None:
    rate, frame_size = stream.codec_context.sample_rate, 1024
    total = int(seconds * rate)
    for start in range(0, total, frame_size):
        n = min(frame_size, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float32)
        samples = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def _add_subtitles(container: av.container.OutputContainer) -> av.subtitles.stream.SubtitleStream:
    name = container.format.name
    codec = (
        "mov_text" if "mp4" in name or "mov" in name else "webvtt" if "webm" in name else "subrip"
    )
    return add_text_subtitle_stream(container, codec)


def _write_subtitles(
    container: av.container.OutputContainer,
    stream: av.subtitles.stream.SubtitleStream,
    cues: Sequence[SubtitleCue],
) -> None:
    for cue in cues:
        duration = cue.end_ms - cue.start_ms
        subtitle = av.subtitles.subtitle.SubtitleSet.create(
            f"0,0,Default,,0,0,0,,{cue.text}".encode(), 0, duration, pts=cue.start_ms * 1000
        )
        packet = stream.codec_context.encode_subtitle(subtitle)
        packet.pts = packet.dts = cue.start_ms
        packet.duration = duration
        packet.time_base = Fraction(1, 1000)
        packet.stream = stream
        container.mux(packet)


def _texture(height: int, width: int, index: int, seed: int) -> np.ndarray:
    """Fine noise plus a drifting sinusoid: detail and motion, like real footage, +/-35."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 8.0, size=(height, width, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    wave = 20.0 * np.sin((xx + 2.0 * index) / 5.0) * np.cos(yy / 7.0)
    return np.clip(noise + wave[:, :, None], -35.0, 35.0)
