"""An encoder's frames as a GPU upscaler can make them: 8-bit 4:2:0 planes (I420).

A chunk encoder takes RGB frames and converts them (swscale, on its CPU share), or takes
its own planes ready: the Y plane, then U, then V, in one ``(height * 3 / 2, width)``
uint8 array per frame. An upscaler whose model runs on a GPU converts there, so that the
node's CPUs, which bind a GPU node (they encode), neither convert nor receive twice the
bytes (``rayapp.pipeline.stages.upscaled_frames`` asks for them).
"""

from __future__ import annotations

from dataclasses import dataclass

from rayapp.video._colour import Colour, sws_matrix, sws_range

__all__ = ["Yuv420", "yuv420_planes"]

# The (Kr, Kb) luma weights of each matrix swscale converts with (``_colour.sws_matrix``
# names it for a stream's code: an untagged one converts as BT.601). FCC and SMPTE 240M
# stay on the encoder's own conversion.
_BT601 = (0.299, 0.114)
_WEIGHTS = {
    "itu709": (0.2126, 0.0722),
    "itu601": _BT601,
    "smpte170m": _BT601,
    "bt2020": (0.2627, 0.0593),
}


@dataclass(frozen=True)
class Yuv420:
    """8-bit 4:2:0 planes in ``matrix`` (an ``AVCOL_SPC_*`` code) and range: chroma is the
    2x2 average (as the encoder's own conversion: swscale's area filter)."""

    matrix: int
    full_range: bool

    @property
    def weights(self) -> tuple[float, float]:
        """(Kr, Kb): Y = Kr R + (1 - Kr - Kb) G + Kb B."""
        return _WEIGHTS[sws_matrix(self.matrix)]

    @property
    def swscale(self) -> dict[str, str]:
        """The reformatter's arguments for converting RGB (full range) to these planes."""
        return {
            "src_color_range": "JPEG",
            "dst_colorspace": sws_matrix(self.matrix),
            "dst_color_range": sws_range(2 if self.full_range else 1),
        }

    @staticmethod
    def shape(height: int, width: int) -> tuple[int, int]:
        """One frame's array: the Y plane's rows, then U's and V's (half as wide) packed
        two to a row."""
        return height * 3 // 2, width


def yuv420_planes(pix_fmt: str, colour: Colour) -> Yuv420 | None:
    """The planes an encoder of ``pix_fmt`` takes for a source of ``colour``, or None
    where it converts RGB itself (another format or bit depth, an unusual matrix)."""
    if pix_fmt != "yuv420p" or sws_matrix(colour.matrix) not in _WEIGHTS:
        return None
    return Yuv420(colour.matrix, full_range=colour.range == 2)
