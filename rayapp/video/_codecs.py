"""Output video codecs: the one table of encoders we drive, and the settings of an encode."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import av

from rayapp.errors import ConfigError, UnsupportedCodecError
from rayapp.video._info import VideoStreamInfo

__all__ = ["CODECS", "CodecName", "CodecSpec", "EncodeSettings"]


@dataclass(frozen=True)
class CodecSpec:
    """How to drive one encoder: its CRF scale, default CRF/preset, and fixed options."""

    name: str
    crf_default: int
    crf_max: int
    preset_default: str
    preset_option: str = "preset"
    options: Mapping[str, str] = field(default_factory=dict)

    def check_crf(self, crf: int | None) -> None:
        if crf is not None and not 0 <= crf <= self.crf_max:
            raise ConfigError(f"Expected crf in 0..{self.crf_max} for {self.name}, but got {crf}")


# libvpx: CRF means constant quality only with a zero target bitrate; its speed knob is
# cpu-used (0 slowest .. 8 fastest), not a named preset.
_VPX = {"b": "0", "row-mt": "1"}
CODECS: dict[str, CodecSpec] = {
    spec.name: spec
    for spec in (
        CodecSpec("libx264", 18, 51, "medium"),
        CodecSpec("libx265", 22, 51, "medium", options={"x265-params": "log-level=error"}),
        CodecSpec("libsvtav1", 30, 63, "8"),
        CodecSpec("libvpx-vp9", 31, 63, "4", preset_option="cpu-used", options=_VPX),
    )
}
CodecName = Literal[tuple(CODECS)]  # type: ignore[valid-type]  # the table's names


@dataclass(frozen=True)
class EncodeSettings:
    """Encoder choice for chunks. ``crf``/``preset`` None: the codec's default.

    ``pix_fmt`` None: the source's own YUV format when the encoder takes it, else
    ``yuv420p10le`` for a >8-bit source when it can, else ``yuv420p``.
    """

    codec: str = "libx264"
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None

    def __post_init__(self) -> None:
        spec = self.spec
        if spec.name not in av.codecs_available:
            raise UnsupportedCodecError(
                f"Output codec {spec.name!r} is not built into this PyAV/FFmpeg"
            )
        spec.check_crf(self.crf)
        if self.pix_fmt is not None and self.pix_fmt not in self._encoder_formats():
            raise UnsupportedCodecError(
                f"{spec.name} cannot encode pix_fmt {self.pix_fmt!r}; it takes "
                f"{', '.join(sorted(self._encoder_formats()))}"
            )

    @property
    def spec(self) -> CodecSpec:
        try:
            return CODECS[self.codec]
        except KeyError:
            raise UnsupportedCodecError(
                f"Unknown output codec {self.codec!r}. Available: {', '.join(sorted(CODECS))}"
            ) from None

    def encoder_options(self) -> dict[str, str]:
        spec = self.spec
        options = dict(spec.options)
        options["crf"] = str(spec.crf_default if self.crf is None else self.crf)
        options[spec.preset_option] = self.preset or spec.preset_default
        return options

    def resolve_pix_fmt(self, source: VideoStreamInfo) -> str:
        if self.pix_fmt is not None:
            return self.pix_fmt
        formats = self._encoder_formats()
        candidates = [source.pix_fmt] if source.pix_fmt.startswith("yuv") else []
        if source.bit_depth > 8:
            candidates.append("yuv420p10le")
        candidates.append("yuv420p")
        return next(f for f in candidates if f in formats)

    def check_size(self, height: int, width: int, pix_fmt: str) -> None:
        """Subsampled chroma needs dimensions divisible by the subsampling factor."""
        fmt = av.VideoFormat(pix_fmt, 64, 64)
        step_w, step_h = 64 // fmt.chroma_width(), 64 // fmt.chroma_height()
        if width % step_w or height % step_h or width <= 0 or height <= 0:
            raise UnsupportedCodecError(
                f"{self.codec} with {pix_fmt} needs a width divisible by {step_w} and a height "
                f"divisible by {step_h}, but the frames are {width}x{height}"
            )

    def _encoder_formats(self) -> set[str]:
        return {f.name for f in av.Codec(self.spec.name, "w").video_formats or ()}
