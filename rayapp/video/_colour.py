"""Colour metadata of a video stream, and the matching swscale conversion parameters.

Values are FFmpeg's ``AVCOL_*`` codes, exactly as a codec context or a frame reports them
(e.g. primaries/transfer/matrix 1 = BT.709, 2 = unspecified; range 1 = tv/limited,
2 = pc/full). Decode (YUV -> RGB) and encode (RGB -> YUV) use the *same* matrix and range,
taken from these tags, so an upscaled frame goes back into the colour space it came from
and the output can carry the source's tags unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Colour", "sws_matrix", "sws_range"]

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
