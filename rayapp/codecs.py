"""The one table of output video encoders we drive: names, families, quality scales and
presets. Plain data (no PyAV): the configs validate ``--codec`` and ``--crf`` against it
without loading a media library; ``rayapp.video`` opens the encoders it names.

``--codec`` takes a codec family (``h264``, ``hevc``, ``av1``, ``vp9``) or an encoder by
name. A family encodes with NVENC where the replica has a CUDA device that can open it and
with its CPU encoder elsewhere; an encoder by name is used as asked. NVENC's quality comes
from ``--crf`` (constant quality ``cq``), its presets from x264's names (``medium`` is
``p5``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from rayapp.errors import ConfigError, UnsupportedCodecError

__all__ = ["CODECS", "FAMILIES", "CodecName", "CodecSpec", "codec_spec"]

# x264's preset names -> NVENC's (p1 fastest .. p7 best).
_NVENC_PRESETS = {
    "ultrafast": "p1", "superfast": "p2", "veryfast": "p3", "faster": "p4", "fast": "p4",
    "medium": "p5", "slow": "p6", "slower": "p7", "veryslow": "p7",
}  # fmt: skip
# Constant quality: the bitrate left uncapped, the quality from --crf.
_NVENC = {"rc": "vbr", "b": "0", "tune": "hq"}
# libvpx: CRF means constant quality only with a zero target bitrate; its speed knob is
# cpu-used (0 slowest .. 8 fastest), not a named preset.
_VPX = {"b": "0", "row-mt": "1"}


@dataclass(frozen=True)
class CodecSpec:
    """How to drive one encoder: its family, quality scale and option, presets, fixed options."""

    name: str
    family: str
    crf_default: int
    crf_max: int
    preset_default: str
    preset_option: str = "preset"
    crf_option: str = "crf"
    options: Mapping[str, str] = field(default_factory=dict)
    gpu: bool = False  # an NVIDIA (NVENC) encoder
    preset_names: Mapping[str, str] = field(default_factory=dict)  # other names it takes

    def check_crf(self, crf: int | None) -> None:
        if crf is not None and not 0 <= crf <= self.crf_max:
            raise ConfigError(f"Expected crf in 0..{self.crf_max} for {self.name}, but got {crf}")


CODECS: dict[str, CodecSpec] = {
    spec.name: spec
    for spec in (
        CodecSpec("libx264", "h264", 18, 51, "medium"),
        CodecSpec("libx265", "hevc", 22, 51, "medium", options={"x265-params": "log-level=error"}),
        CodecSpec("libsvtav1", "av1", 30, 63, "8"),
        CodecSpec("libvpx-vp9", "vp9", 31, 63, "4", preset_option="cpu-used", options=_VPX),
        *(
            CodecSpec(
                f"{family}_nvenc",
                family,
                crf,
                top,
                "p5",
                crf_option="cq",
                options=_NVENC,
                gpu=True,
                preset_names=_NVENC_PRESETS,
            )  # fmt: skip
            for family, crf, top in (("h264", 19, 51), ("hevc", 23, 51), ("av1", 30, 63))
        ),
    )
}
# Family -> its encoders, GPU ones first.
FAMILIES: dict[str, tuple[str, ...]] = {}
for _spec in sorted(CODECS.values(), key=lambda s: not s.gpu):
    FAMILIES.setdefault(_spec.family, ())
    FAMILIES[_spec.family] += (_spec.name,)
CodecName = Literal[(*FAMILIES, *CODECS)]  # type: ignore[valid-type]  # the table's names


def codec_spec(codec: str) -> CodecSpec:
    """The spec of ``codec``: the encoder named, or a family's CPU encoder."""
    name = FAMILIES[codec][-1] if codec in FAMILIES else codec
    try:
        return CODECS[name]
    except KeyError:
        known = ", ".join(sorted([*FAMILIES, *CODECS]))
        raise UnsupportedCodecError(f"Unknown output codec {codec!r}. Available: {known}") from None
