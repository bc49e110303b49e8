"""The frame-index pattern drawn in every test frame, and an upscaler that keeps it.

Each frame carries its own frame index as a visible pattern: a 4x8 grid of cells, the
top two rows holding the 16 bits of the index and the bottom two rows their complement.
The cells are big and high-contrast, so the index survives lossy encoding, chroma
subsampling and any upscale, and :func:`read_frame_index` reads it back by position (it
is resolution independent). The complement turns a misread into an error instead of a
wrong number.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PULLDOWN",
    "NearestUpscaler",
    "film_frame",
    "frame_pattern",
    "read_frame_index",
    "telecined_frame",
]

_GRID_ROWS, _GRID_COLS = 4, 8
_BITS = 16
_HIGH, _LOW = 215, 40  # comfortably inside tv range, far from the 128 threshold
# Every other scene: 40 levels darker in luma, its colours shifted; the cells still read.
_SCENE_TINT = np.array([-50.0, -40.0, -20.0], dtype=np.float32)


class NearestUpscaler:
    """An identity-like :class:`~rayapp.pipeline.FrameUpscaler`: nearest-neighbour repeat.

    frames: NHWC RGB uint8 or uint16 -> NHWC of the same dtype, ``scale`` times larger.
    """

    name = "nearest"
    device = "cpu"
    precision = "n/a"

    def __init__(self, scale: int = 2) -> None:
        if scale < 1:
            raise ValueError(f"Expected an integer scale >= 1, but got {scale!r}")
        self.scale = scale

    @property
    def identity(self) -> str:
        """Its class: a subclass (a test double that dies, waits, ...) is another model."""
        return f"{type(self).__module__}.{type(self).__qualname__}"

    def device_memory(self) -> int:
        return 0

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return height * self.scale, width * self.scale

    def upscale_batch(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"Expected NHWC frames with 3 channels, but got {frames.shape}")
        if size is None:
            return _repeat(frames, self.scale)
        rows = np.arange(size[0]) * frames.shape[1] // size[0]  # nearest, at any size
        cols = np.arange(size[1]) * frames.shape[2] // size[1]
        return frames[:, rows][:, :, cols]


def _repeat(frames: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel of NHWC ``frames`` as a ``scale`` x ``scale`` block: columns first, then
    each widened row copied ``scale`` times as a whole (two broadcast copies, about half the
    time of ``np.repeat`` twice at 2560x1920: this stands for a GPU, so it should cost the
    CPU little)."""
    n, h, w, c = frames.shape
    wide = np.empty((n, h, w, scale, c), frames.dtype)
    wide[...] = frames[:, :, :, None, :]
    out = np.empty((n, h, scale, w * scale * c), frames.dtype)
    out[...] = wide.reshape(n, h, 1, w * scale * c)
    return out.reshape(n, h * scale, w * scale, c)


def frame_pattern(
    index: int, height: int, width: int, *, texture: bool = False, seed: int = 0, scene: int = 0
) -> np.ndarray:
    """An HxWx3 uint8 RGB frame showing ``index`` as the bit-grid pattern; an odd
    ``scene`` darker and tinted (``_SCENE_TINT``): what a cut to another shot looks like."""
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
    if scene % 2:
        rgb += _SCENE_TINT
    if texture:
        rgb += _texture(height, width, index, seed)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def woven_frame(index: int, height: int, width: int, parity: str) -> np.ndarray:
    """Frame ``index`` of an interlaced camera: ``frame_pattern(index)`` under vertical bars
    that move 3 pixels a field, its two fields taken half a frame apart (``parity`` tff:
    the top field, the even rows, first). Woven, the moving bars comb."""
    base = frame_pattern(index, height, width).astype(np.float32)
    frame = np.empty_like(base)
    x = np.arange(width, dtype=np.float32)
    for field in (0, 1):
        t = 2 * index + field
        bars = 30.0 * np.sin(2 * np.pi * (x - 3.0 * t) / 16.0)
        rows = field if parity == "tff" else 1 - field  # which rows this field holds
        frame[rows::2] = base[rows::2] + bars[None, :, None]
    return np.clip(frame, 0, 255).astype(np.uint8)


# 3:2 pulldown: the (top, bottom) fields of each of five video frames, as film frames of
# the cycle (A B C D = 0 1 2 3): AA BB BC CD DD.
PULLDOWN = ((0, 0), (1, 1), (1, 2), (2, 3), (3, 3))


def film_frame(index: int, height: int, width: int) -> np.ndarray:
    """Film frame ``index`` (24 a second): ``frame_pattern(index)`` under vertical bars that
    move 6 pixels a frame, so that fields of two film frames woven together comb."""
    base = frame_pattern(index, height, width).astype(np.float32)
    x = np.arange(width, dtype=np.float32)
    bars = 30.0 * np.sin(2 * np.pi * (x - 6.0 * index) / 16.0)
    return np.clip(base + bars[None, :, None], 0, 255).astype(np.uint8)


def telecined_frame(index: int, height: int, width: int) -> np.ndarray:
    """Video frame ``index`` of film telecined to 30 frames a second by 3:2 pulldown
    (``PULLDOWN``, top field first): two of every five frames weave two film frames."""
    cycle, at = divmod(index, len(PULLDOWN))
    top, bottom = (4 * cycle + f for f in PULLDOWN[at])
    frame = film_frame(top, height, width)
    frame[1::2] = film_frame(bottom, height, width)[1::2]
    return frame


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


def _texture(height: int, width: int, index: int, seed: int) -> np.ndarray:
    """Fine noise plus a drifting sinusoid: detail and motion, like real footage, +/-35."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 8.0, size=(height, width, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    wave = 20.0 * np.sin((xx + 2.0 * index) / 5.0) * np.cos(yy / 7.0)
    return np.clip(noise + wave[:, :, None], -35.0, 35.0)
