"""Clips with a ground truth: sub-pixel motion over real photographs, with scene cuts.

``scene_truth`` pans a window over each photograph in turn (one scene each, a cut
between), resampling it bicubically at every sub-pixel position; ``area_downscaled``
shrinks such frames by an integer factor (each pixel the mean of a block), as a camera
that sees less would: the source an upscale is held against the truth with. Motion of a
fraction of a source pixel a frame is what makes frame-by-frame upscaling crawl.
``write_clip`` encodes frames (H.264, with a tone as audio) as a source to upscale.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import av
import cv2
import numpy as np

from rayapp import storage

__all__ = ["Scene", "area_downscaled", "minterpolated", "photographs", "scene_truth", "write_clip"]

Scene = tuple[np.ndarray, int, tuple[float, float]]  # (photograph, frames, (vx, vy) px a frame)


def scene_truth(scenes: Sequence[Scene], height: int, width: int) -> np.ndarray:
    """NHWC uint8 RGB: each scene's photograph (HxWx3 uint8, any size: scaled to cover the
    window with room to move) seen through a ``height`` x ``width`` window that moves
    ``(vx, vy)`` pixels a frame, for its frames; the scenes one after the other."""
    frames = []
    for photo, count, (vx, vy) in scenes:
        travel = (abs(vx) * count + 2, abs(vy) * count + 2)
        scale = max((height + travel[1]) / photo.shape[0], (width + travel[0]) / photo.shape[1])
        big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        x0 = 1.0 if vx >= 0 else big.shape[1] - width - 1.0
        y0 = 1.0 if vy >= 0 else big.shape[0] - height - 1.0
        for i in range(count):
            shift = np.float32([[1, 0, -(x0 + vx * i)], [0, 1, -(y0 + vy * i)]])
            frames.append(
                cv2.warpAffine(
                    big,
                    shift,
                    (width, height),
                    flags=cv2.INTER_CUBIC,
                    borderMode=cv2.BORDER_REFLECT,
                )  # fmt: skip
            )
    return np.stack(frames)


def photographs() -> tuple[np.ndarray, ...]:
    """Three photographs scikit-image ships (coffee, rocket, astronaut: its test extra,
    which ``scripts/setup.sh`` installs), HxWx3 uint8."""
    try:
        import skimage.data
    except ImportError as e:
        raise ImportError("photographs() needs scikit-image: pip install -e '.[test]'") from e
    return skimage.data.coffee(), skimage.data.rocket(), skimage.data.astronaut()


def area_downscaled(frames: np.ndarray, factor: int) -> np.ndarray:
    """NHWC ``frames`` with each ``factor`` x ``factor`` block of pixels averaged."""
    n, h, w, c = frames.shape
    blocks = frames.reshape(n, h // factor, factor, w // factor, factor, c)
    return np.round(blocks.mean(axis=(2, 4))).astype(frames.dtype)


def write_clip(uri: str, frames: np.ndarray, *, fps: int = 24, crf: int = 18) -> str:
    """``frames`` (NHWC uint8 RGB) as H.264 (yuv420p, x264 at ``crf``, its own keyframes)
    with a mono AAC tone as long as the video, at ``uri``; returns ``uri``."""
    with storage.atomic_write(uri) as tmp, av.open(tmp, "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        video.codec_context.options = {"crf": str(crf), "preset": "veryfast"}
        video.codec_context.thread_count = 1
        audio = container.add_stream("aac", rate=16000, layout="mono")
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        _tone(container, audio, len(frames) / fps)
    return uri


def _tone(container: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    rate, size = 16000, 1024
    total = int(seconds * rate)
    for start in range(0, total, size):
        t = np.arange(start, min(start + size, total)) / rate
        samples = (0.2 * np.sin(2 * np.pi * 330.0 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def minterpolated(frames: np.ndarray, factor: int = 2) -> np.ndarray:
    """NHWC uint8 RGB ``frames`` at ``factor`` times their rate through FFmpeg's own
    motion-compensated interpolation (``minterpolate``, ``mi_mode=mci``), the reference the
    ``flow`` interpolator is measured against. Frame ``factor * i`` is source frame ``i``
    (through the filter's YUV); the filter holds back its last few frames."""
    count, height, width = frames.shape[:3]
    graph = av.filter.Graph()
    source = graph.add_buffer(width=width, height=height, format="rgb24", time_base=Fraction(1, 24))
    mci = graph.add("minterpolate", f"fps={24 * factor}:mi_mode=mci")
    sink = graph.add("buffersink")
    source.link_to(mci)
    mci.link_to(sink)
    graph.configure()
    out: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                out.append(graph.pull().to_ndarray(format="rgb24"))
            except (av.BlockingIOError, av.EOFError):
                return

    for index, frame in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        picture.pts, picture.time_base = index, Fraction(1, 24)
        graph.push(picture)
        drain()
    graph.push(None)
    drain()
    return np.stack(out)
