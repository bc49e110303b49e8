"""Image bytes <-> arrays: PNG (8 and 16 bit), JPEG, WebP.

Arrays are ``HW`` (gray), ``HWC`` with C in {3, 4} (RGB, RGBA), ``uint8`` or ``uint16``.
8-bit images go through Pillow; 16-bit PNG goes through FFmpeg's PNG codec (PyAV), since
Pillow reads 16-bit RGB as 8-bit. The pixel count is checked from the header before any
pixel is decoded, so a decompression bomb is refused, not allocated.
"""

from __future__ import annotations

import io
import struct
import warnings

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from rayapp.config import DEFAULT_MAX_PIXELS
from rayapp.errors import ImageTooLargeError, InputImageError
from rayapp.image_formats import IMAGE_FORMATS, ImageFormat, output_format
from rayapp.quality import peak

__all__ = ["check_output_format", "decode_image", "encode_image"]


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InputImageError(f"Image has no pixels: {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"Image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
        )


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Bytes of a PNG/JPEG/WebP -> array (see module contract)."""
    if not data:
        raise InputImageError("Empty image")
    if IMAGE_FORMATS["png"].matches(data) and len(data) >= 26 and data[24] == 16:
        width, height = struct.unpack(">II", data[16:24])
        _check_pixels(width, height, max_pixels)
        return _decode_png16(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            _check_pixels(im.width, im.height, max_pixels)
            im.load()
    except ImageTooLargeError:
        raise
    except UnidentifiedImageError as e:  # Pillow's message names a BytesIO object
        raise InputImageError("Cannot decode image: not a PNG, JPEG or WebP image") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise InputImageError(f"Cannot decode image: {e}") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLargeError(f"Image refused as a decompression bomb: {e}") from e
    return _pil_to_array(im)


def _pil_to_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(im, dtype=np.uint16).copy()
    if im.mode == "I":  # 16-bit gray PNG as Pillow reads it
        return np.asarray(im).clip(0, 65535).astype(np.uint16)
    if im.mode == "L":
        return np.asarray(im).copy()
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB")).copy()


def _decode_png16(data: bytes) -> np.ndarray:
    try:
        ctx = av.CodecContext.create("png", "r")
        frames = ctx.decode(av.Packet(data))
    except (av.FFmpegError, ValueError) as e:
        raise InputImageError(f"Cannot decode 16-bit PNG: {e}") from e
    if not frames:
        raise InputImageError("Cannot decode 16-bit PNG: no image in the data")
    frame = frames[0]
    name = frame.format.name
    if name.startswith("gray"):
        target = "gray16le"
    elif name.startswith(("rgba", "ya")):
        target = "rgba64le"
    else:
        target = "rgb48le"
    return frame.reformat(format=target).to_ndarray()


def check_output_format(image: np.ndarray, fmt: str) -> ImageFormat:
    """The row of ``fmt`` when ``image`` can be written in it: ``UnsupportedFormatError``
    for a format that cannot hold its bit depth or its alpha (``output_format``)."""
    bits = int(peak(image.dtype)).bit_length()  # 8 or 16; InputImageError for other dtypes
    return output_format(fmt, bits=bits, alpha=image.ndim == 3 and image.shape[2] == 4)


def encode_image(arr: np.ndarray, fmt: str = "png", quality: int = 95) -> bytes:
    """Array -> bytes in ``fmt`` (png, jpeg, webp; ``check_output_format``)."""
    row = check_output_format(arr, fmt)
    if arr.dtype == np.uint16:  # PNG, the one 16-bit format: Pillow would write 8 bits
        return _encode_png16(arr)
    buf = io.BytesIO()
    options = {"quality": quality} if row.lossy else {}
    Image.fromarray(arr).save(buf, format=fmt.upper(), **options)
    return buf.getvalue()


def _encode_png16(arr: np.ndarray) -> bytes:
    if arr.ndim == 2:
        src, dst = "gray16le", "gray16be"
    elif arr.shape[2] == 3:
        src, dst = "rgb48le", "rgb48be"
    elif arr.shape[2] == 4:
        src, dst = "rgba64le", "rgba64be"
    else:
        raise InputImageError(f"Expected HW, HWx3 or HWx4 for 16-bit PNG, but got {arr.shape}")
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=src)
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt = frame.width, frame.height, dst
    packets = ctx.encode(frame.reformat(format=dst)) + ctx.encode(None)
    return b"".join(bytes(p) for p in packets)
