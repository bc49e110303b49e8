"""Image bytes <-> arrays, and refusing what must not be decoded."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from rayapp.errors import InputImageError
from rayapp.images import ImageTooLargeError, decode_image, encode_image

RNG = np.random.default_rng(7)


@pytest.mark.parametrize(
    "array",
    [
        (RNG.random((5, 7, 3)) * 255).astype(np.uint8),
        (RNG.random((5, 7, 4)) * 255).astype(np.uint8),
        (RNG.random((5, 7)) * 255).astype(np.uint8),
        (RNG.random((5, 7, 3)) * 65535).astype(np.uint16),
        (RNG.random((5, 7, 4)) * 65535).astype(np.uint16),
        (RNG.random((5, 7)) * 65535).astype(np.uint16),
    ],
    ids=["rgb8", "rgba8", "gray8", "rgb16", "rgba16", "gray16"],
)
def test_png_round_trip_is_lossless(array: np.ndarray) -> None:
    back = decode_image(encode_image(array, "png"))
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_lossy_formats_round_trip_shape(fmt: str) -> None:
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (24, 1, 3))
    back = decode_image(encode_image(smooth, fmt))
    assert back.shape == (24, 32, 3) and back.dtype == np.uint8
    assert np.abs(back.astype(int) - smooth).max() <= 8


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (the data would not fill it)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("depth", [8, 16])
def test_decompression_bomb_refused_from_header(depth: int) -> None:
    data = bytearray(_png_declaring(100_000, 100_000))
    data[24] = depth
    with pytest.raises(ImageTooLargeError, match="10000000000 pixels|100000x100000"):
        decode_image(bytes(data), max_pixels=10_000_000)


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage bytes", encode_image(np.zeros((8, 8, 3), np.uint8))[:40]],
    ids=["empty", "garbage", "truncated"],
)
def test_undecodable_bytes(data: bytes) -> None:
    with pytest.raises(InputImageError):
        decode_image(data)


def test_jpeg_cannot_carry_alpha_nor_16_bits() -> None:
    with pytest.raises(InputImageError, match="alpha"):
        encode_image(np.zeros((4, 4, 4), np.uint8), "jpeg")
    with pytest.raises(InputImageError, match="16-bit"):
        encode_image(np.zeros((4, 4, 3), np.uint16), "webp")
