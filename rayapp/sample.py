"""The quick-start sample: a short clip with real texture and real sound, made offline.

A slow pan and zoom (the "Ken Burns" effect) across the bundled photograph
``rayapp/data/astronaut.png``, encoded with libx264 (yuv420p, one keyframe per second),
with a stereo AAC track (a soft A-major chord, 48 kHz) of the same duration.
"""

from __future__ import annotations

import importlib.resources
import math
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from rayapp import storage

__all__ = ["make_sample_video"]

_AUDIO_RATE = 48_000
_AUDIO_FRAME = 1024  # AAC's frame size
_CHORD_HZ = (220.0, 277.18, 329.63)  # A3, C#4, E4


def make_sample_video(
    uri: str,
    *,
    seconds: float = 2.0,
    size: tuple[int, int] = (160, 120),
    fps: int = 24,
    hold: int = 1,
    crf: int = 18,
) -> str:
    """Write the sample clip at ``uri`` (any fsspec URI; container from the extension).

    ``round(seconds * fps)`` frames of ``size`` (width, height); each view is held for
    ``hold`` frames (as animation holds a drawing on twos or threes); x264 at ``crf``.
    Returns ``uri``.
    """
    width, height = size
    frames = round(seconds * fps)
    if frames < 1:
        raise ValueError(f"Expected at least one frame, but got seconds={seconds}, fps={fps}")
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"Expected an even size of at least 16x16, but got {width}x{height}")
    photo = _photo()
    with storage.atomic_write(uri) as tmp, av.open(tmp, "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = video.codec_context.time_base = Fraction(1, fps)
        video.codec_context.options = {
            "crf": str(crf),
            "preset": "veryfast",
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0",
        }
        audio = container.add_stream("aac", rate=_AUDIO_RATE, layout="stereo")
        for i in range(frames):
            held = i - i % hold
            image = _ken_burns(photo, held / max(frames - 1, 1), width, height)
            frame = av.VideoFrame.from_image(image).reformat(format="yuv420p")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())  # flush: the encoder holds frames back for lookahead
        _write_chord(container, audio, frames / fps)
    return uri


def _photo() -> Image.Image:
    source = importlib.resources.files("rayapp") / "data" / "astronaut.png"
    with source.open("rb") as f, Image.open(f) as image:
        return image.convert("RGB")


def _ken_burns(photo: Image.Image, t: float, width: int, height: int) -> Image.Image:
    """The view at time ``t`` in [0, 1]: from the whole photo to a 40% closer, shifted crop."""
    ease = 0.5 - 0.5 * math.cos(math.pi * t)  # starts and stops gently
    pw, ph = photo.size
    aspect = width / height
    # The largest box of the output's aspect ratio that fits the photo, then zoom into it.
    full_w = min(pw, ph * aspect)
    box_w = full_w / (1.0 + 0.4 * ease)
    box_h = box_w / aspect
    # Drift left to right and upwards, closing in on the eyes, as the view tightens.
    x0 = (pw - box_w) * (0.2 + 0.6 * ease)
    y0 = (ph - box_h) * (0.5 - 0.3 * ease)
    box = (x0, y0, x0 + box_w, y0 + box_h)
    # Sub-pixel boxes keep the motion smooth; the resampler does the interpolation.
    return photo.resize((width, height), Image.Resampling.BICUBIC, box=box)


def _write_chord(
    container: av.container.OutputContainer, stream: av.AudioStream, seconds: float
) -> None:
    """A soft chord with a short fade in and out, each note panned a little differently."""
    total = round(seconds * _AUDIO_RATE)
    fade = min(total // 4, _AUDIO_RATE // 10)
    pans = np.linspace(0.3, 0.7, len(_CHORD_HZ))
    for start in range(0, total, _AUDIO_FRAME):
        n = min(_AUDIO_FRAME, total - start)
        idx = np.arange(start, start + n)
        t = idx / _AUDIO_RATE
        envelope = np.clip(np.minimum(idx, total - 1 - idx) / max(fade, 1), 0.0, 1.0)
        samples = np.zeros((2, n))
        for hz, pan in zip(_CHORD_HZ, pans, strict=True):
            note = np.sin(2 * np.pi * hz * t) * envelope * 0.12
            samples[0] += note * (1.0 - pan)
            samples[1] += note * pan
        frame = av.AudioFrame.from_ndarray(
            samples.astype(np.float32), format="fltp", layout="stereo"
        )
        frame.sample_rate, frame.pts = _AUDIO_RATE, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
