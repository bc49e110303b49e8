"""Colour metadata of a video stream, and the matching swscale conversion parameters.

Values are FFmpeg's ``AVCOL_*`` codes, exactly as a codec context or a frame reports them
(e.g. primaries/transfer/matrix 1 = BT.709, 2 = unspecified; range 1 = tv/limited,
2 = pc/full). Decode (YUV -> RGB) and encode (RGB -> YUV) use the *same* matrix and range,
taken from these tags, so an upscaled frame goes back into the colour space it came from
and the output can carry the source's tags unchanged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import Interpolation

__all__ = [
    "HDR_ENCODERS",
    "HLG",
    "PQ",
    "Colour",
    "HdrMetadata",
    "sws_matrix",
    "sws_range",
    "to_rgb",
]

_RANGE_NAMES = {0: "unspecified", 1: "tv", 2: "pc"}
_MATRIX_NAMES = {
    0: "rgb",
    1: "bt709",
    2: "unspecified",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    9: "bt2020nc",
    10: "bt2020c",
}

# AVCOL_SPC_* -> the names PyAV's reformatter takes (which are swscale's SWS_CS_* tables).
# Anything unlisted, unspecified included, converts as BT.601 (swscale's default), on both
# the decode and the encode side, so the round trip stays consistent.
_SWS_MATRIX = {
    1: "itu709",
    4: "fcc",
    5: "itu601",
    6: "smpte170m",
    7: "smpte240m",
    9: "bt2020",
    10: "bt2020",
}


@dataclass(frozen=True)
class Colour:
    """A stream's colour description (AVCOL_* codes; 2 / 0 mean unspecified)."""

    range: int = 0
    primaries: int = 2
    transfer: int = 2
    matrix: int = 2

    def describe(self) -> str:
        matrix = _MATRIX_NAMES.get(self.matrix, str(self.matrix))
        return (
            f"range={_RANGE_NAMES.get(self.range, self.range)} primaries={self.primaries} "
            f"transfer={self.transfer} matrix={matrix}"
        )


def sws_matrix(matrix: int) -> str:
    """The reformatter colourspace name for an ``AVCOL_SPC_*`` code."""
    return _SWS_MATRIX.get(matrix, "itu601")


def sws_range(colour_range: int) -> str:
    """The reformatter range name: full only when tagged pc, else tv (the YUV default)."""
    return "JPEG" if colour_range == 2 else "MPEG"


# swscale's quick YUV -> 8-bit RGB conversion rounds down: a coloured pixel comes out up to 3
# levels dark (1.2 on average over the sample video; a grey is exact), and the conversion
# back to YUV cannot undo it, so an output's luma would be a level or two below its
# source's, in a pattern x264 codes as detail. With accurate rounding and each pixel's own
# chroma sample (nearest, as the quick conversion takes it) every value is the matrix's, to
# the nearest level. Planar RGB is that conversion's quick output: 0.9 ms a 640x480 frame
# here, a third of packed RGB's time (the quick conversion: 0.3 ms).
_EXACT_RGB = Interpolation.POINT | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def to_rgb(frame: av.VideoFrame, depth: int = 8) -> np.ndarray:
    """A decoded frame as HxWx3 full-range RGB, uint8 (``depth`` 8: each value the frame's
    matrix gives, to the nearest level) or uint16 (16), in the frame's own matrix and range
    (``sws_matrix``, ``sws_range``)."""
    tags = {
        "src_colorspace": sws_matrix(frame.colorspace),
        "src_color_range": sws_range(frame.color_range),
        "dst_color_range": "JPEG",
    }
    if depth == 8:
        return frame.reformat(format="gbrp", interpolation=_EXACT_RGB, **tags).to_ndarray()
    return frame.reformat(format="rgb48le", **tags).to_ndarray()


# AVCOL_TRC_* of high dynamic range video: SMPTE ST 2084 (PQ, HDR10) and ARIB STD-B67 (HLG).
PQ, HLG = 16, 18
# The units of HEVC's SEI (and x265's, x264's and the CLI's --master-display): chromaticity
# in 0.00002, luminance in 0.0001 cd/m2.
_CHROMA_UNITS, _LUMINANCE_UNITS = 50000, 10000


@dataclass(frozen=True)
class HdrMetadata:
    """An HDR10 stream's static metadata, as its first frame carries it.

    ``mastering``: the mastering display's G, B, R and white point (x, y) and its max and
    min luminance, in HEVC's SEI units (module constants), None when absent; ``light``:
    (MaxCLL, MaxFALL) in cd/m2, None when absent.
    """

    mastering: tuple[int, ...] | None = None
    light: tuple[int, int] | None = None

    @classmethod
    def from_side_data(cls, items: dict[str, bytes]) -> HdrMetadata | None:
        """From a decoded frame's side data (type name -> its bytes): FFmpeg's
        ``AVMasteringDisplayMetadata`` (ten rationals, two flags) and
        ``AVContentLightMetadata`` (two unsigned ints). None when the frame has neither."""
        mastering = light = None
        raw = items.get("MASTERING_DISPLAY_METADATA")
        if raw is not None and len(raw) >= 88:
            values = struct.unpack_from("<20i2i", raw)
            rationals = [_ratio(n, d) for n, d in zip(values[:20:2], values[1:20:2], strict=True)]
            has_primaries, has_luminance = values[20], values[21]
            if has_primaries and has_luminance:
                (rx, ry, gx, gy, bx, by, wx, wy, lmin, lmax) = rationals
                chroma = [round(v * _CHROMA_UNITS) for v in (gx, gy, bx, by, rx, ry, wx, wy)]
                luminance = [round(v * _LUMINANCE_UNITS) for v in (lmax, lmin)]
                mastering = (*chroma, *luminance)
        raw = items.get("CONTENT_LIGHT_LEVEL")
        if raw is not None and len(raw) >= 8:
            light = struct.unpack_from("<2I", raw)
        if mastering is None and light is None:
            return None
        return cls(mastering, light)

    def encoder_params(self, encoder: str) -> tuple[str, str] | None:
        """The (option, value) that has ``encoder`` write this metadata into its stream,
        None for an encoder that cannot be given it (module ``HDR_ENCODERS``)."""
        if encoder in ("libx265", "libx264"):
            parts = []
            if self.mastering is not None:
                g, b, r, wp = (self.mastering[i : i + 2] for i in range(0, 8, 2))
                lmax, lmin = self.mastering[8:]
                parts.append(
                    f"master-display=G({g[0]},{g[1]})B({b[0]},{b[1]})R({r[0]},{r[1]})"
                    f"WP({wp[0]},{wp[1]})L({lmax},{lmin})"
                )
            if self.light is not None:
                key = "max-cll" if encoder == "libx265" else "cll"
                parts.append(f"{key}={self.light[0]},{self.light[1]}")
            if encoder == "libx264":
                parts = [p.replace("master-display", "mastering-display") for p in parts]
            return ("x265-params" if encoder == "libx265" else "x264-params", ":".join(parts))
        if encoder == "libsvtav1":
            parts = []
            if self.mastering is not None:
                c = [v / _CHROMA_UNITS for v in self.mastering[:8]]
                lmax, lmin = (v / _LUMINANCE_UNITS for v in self.mastering[8:])
                parts.append(
                    f"mastering-display=G({c[0]:.5f},{c[1]:.5f})B({c[2]:.5f},{c[3]:.5f})"
                    f"R({c[4]:.5f},{c[5]:.5f})WP({c[6]:.5f},{c[7]:.5f})L({lmax:.4f},{lmin:.4f})"
                )
            if self.light is not None:
                parts.append(f"content-light={self.light[0]},{self.light[1]}")
            return ("svtav1-params", ":".join(parts))
        return None

    def same_as(self, other: HdrMetadata | None) -> bool:
        """Equal to the precision of the coarsest bitstream that carries it (AV1 stores
        chromaticity in 1/65536 and luminance in 1/256 or 1/16384: one SEI unit apart)."""
        if other is None or (self.mastering is None) != (other.mastering is None):
            return False
        if self.light != other.light:
            return False
        if self.mastering is None or other.mastering is None:
            return True
        return all(abs(a - b) <= 1 for a, b in zip(self.mastering, other.mastering, strict=True))

    def describe(self) -> dict[str, object]:
        return {"mastering_display": self.mastering, "content_light": self.light}


HDR_ENCODERS = ("libx264", "libx265", "libsvtav1")  # take the metadata from us


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0
