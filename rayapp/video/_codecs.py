"""Opening the encoders of the codec table (``rayapp.codecs``): whether one opens here, and
the settings of an encode.

A family encodes with NVENC where the replica has a CUDA device (on a GPU node the CPU
encoder, not the model, would be the bottleneck) and with its CPU encoder elsewhere, or
where NVENC cannot open (no driver, no NVENC on that GPU: one log line says so).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import av.logging

from rayapp.codecs import CODECS, FAMILIES, CodecSpec, codec_spec
from rayapp.errors import UnsupportedCodecError
from rayapp.video._colour import HDR_ENCODERS, HLG, PQ, HdrMetadata
from rayapp.video._info import VideoStreamInfo
from rayapp.video._nvenc import gpu_model, nvenc_reason

__all__ = ["EncodeSettings", "before_open", "bit_depth", "encoder_usable"]

log = logging.getLogger(__name__)


# SVT-AV1 logs at its info level by default: a banner of about 20 lines each time an encoder
# opens, that is every chunk. It reads its level (SVT_LOG: 1 errors, 2 warnings, 3 info)
# once, when the first encoder of the process opens.
_SVT_LOG_ERRORS = "1"


def before_open(name: str) -> None:
    """What the encoder ``name`` needs set before its first open in this process: SVT-AV1
    logs errors only (a user's own ``SVT_LOG`` is kept)."""
    if name == "libsvtav1":
        os.environ.setdefault("SVT_LOG", _SVT_LOG_ERRORS)


def bit_depth(pix_fmt: str) -> int:
    """Bits per sample of a pixel format (its widest component)."""
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


@functools.cache
def encoder_usable(name: str) -> str | None:
    """None when the encoder ``name`` opens in this process, else why not (cached: asked
    once per process). For NVENC the reason is one a person can act on (``_nvenc``)."""
    if name not in av.codecs_available:
        return "not built into this PyAV/FFmpeg"
    if not CODECS[name].gpu:
        error = _open_error(name, 256, 256, "yuv420p")
        return None if error is None else str(error)
    with _ffmpeg_errors() as said:  # NVENC says why it failed in FFmpeg's log only
        error = _open_error(name, 256, 256, "yuv420p")
    if error is None:
        return None
    return nvenc_reason(f"{error}; FFmpeg: {' '.join(said)}", gpu_model())


@contextlib.contextmanager
def _ffmpeg_errors() -> Iterator[list[str]]:
    """FFmpeg's error lines logged inside the block (PyAV's log level put back after)."""
    previous = av.logging.get_level()
    said: list[str] = []
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs:
            yield said
    finally:
        av.logging.set_level(previous)
        said += [message.strip() for level, _, message in logs if level <= av.logging.ERROR]


def _open_error(
    name: str, width: int, height: int, pix_fmt: str, options: dict[str, str] | None = None
) -> Exception | None:
    """Why the encoder ``name`` does not open for frames of that size and format (None: it
    does). The context is freed on return: PyAV has no close, and x264 holds frame buffers."""
    before_open(name)
    ctx = av.CodecContext.create(name, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = Fraction(1, 25)
    ctx.options = options or {}
    try:
        ctx.open()
    except (av.FFmpegError, OSError) as e:  # no driver: EPERM from avcodec_open2
        return e
    return None


@dataclass(frozen=True)
class EncodeSettings:
    """Encoder choice for chunks. ``codec``: a family or an encoder (module docstring);
    ``crf``/``preset`` None: the encoder's default.

    ``pix_fmt`` None: the source's own YUV format when the encoder takes it, else a 10-bit
    4:2:0 format for a >8-bit source when it can, else ``yuv420p``.
    """

    codec: str = "h264"
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
        """The encoder's spec: the one named, or a family's CPU encoder."""
        return codec_spec(self.codec)

    def for_device(
        self, device_type: str, usable: Callable[[str], str | None] = encoder_usable
    ) -> EncodeSettings:
        """The settings with a family resolved to an encoder for a replica on
        ``device_type``: NVENC on ``cuda`` where ``usable`` says it opens, else the CPU
        encoder. An encoder given by name stays as it is."""
        if self.codec not in FAMILIES:
            return self
        gpu = next((n for n in FAMILIES[self.codec] if CODECS[n].gpu), None)
        if device_type == "cuda" and gpu is not None:
            why_not = usable(gpu)
            if why_not is None:
                return replace(self, codec=gpu)
            _log_fallback(gpu, why_not, self.spec.name)
        return replace(self, codec=self.spec.name)

    def encoder_options(self, hdr: HdrMetadata | None = None) -> dict[str, str]:
        """The encoder's options; ``hdr``: with the source's HDR10 metadata to write."""
        spec = self.spec
        options = dict(spec.options)
        param = hdr.encoder_params(spec.name) if hdr is not None else None
        if param is not None and param[1]:
            key, value = param
            options[key] = f"{options[key]}:{value}" if options.get(key) else value
        crf = spec.crf_default if self.crf is None else self.crf
        if spec.gpu:
            crf = min(max(crf, 1), spec.crf_max)  # NVENC's cq 0 would mean "automatic"
        options[spec.crf_option] = str(crf)
        preset = self.preset or spec.preset_default
        options[spec.preset_option] = spec.preset_names.get(preset, preset)
        return options

    def resolve_pix_fmt(self, source: VideoStreamInfo) -> str:
        if self.pix_fmt is not None:
            return self.pix_fmt
        formats = self._encoder_formats()
        candidates = [source.pix_fmt] if source.pix_fmt.startswith("yuv") else []
        if source.bit_depth > 8:
            candidates += ["yuv420p10le", "p010le"]  # the CPU encoders', NVENC's
        candidates.append("yuv420p")
        return next(f for f in candidates if f in formats)

    def check_hdr(self, source: VideoStreamInfo) -> EncodeSettings:
        """An HDR source (PQ or HLG) kept HDR: at least 10 bits, and its HDR10 metadata
        written by the encoder (x264, x265 and SVT-AV1 take it; a family stays on its CPU
        encoder, as NVENC cannot be given it from here). ``UnsupportedCodecError`` before
        any work where the output would play as something else. Returns the settings."""
        transfer = source.colour.transfer
        if transfer not in (PQ, HLG):
            return self
        kind = "HDR10 (PQ)" if transfer == PQ else "HLG"
        pix_fmt = self.resolve_pix_fmt(source)
        bits = bit_depth(pix_fmt)
        if bits < 10:
            raise UnsupportedCodecError(
                f"The source is {kind} video; {self.spec.name} encodes it as {pix_fmt} "
                f"({bits}-bit), which would band it: choose --codec hevc, av1 or h264 (10-bit)"
            )
        if source.hdr is None:
            return self
        cpu = self if self.codec not in FAMILIES else replace(self, codec=self.spec.name)
        if cpu.spec.name not in HDR_ENCODERS:
            raise UnsupportedCodecError(
                f"The source is {kind} video with mastering display and light level "
                f"metadata, which {cpu.spec.name} cannot be given (players would guess its "
                "tone mapping): choose --codec hevc, av1 or h264"
            )
        if cpu is not self:
            log.info("HDR10 metadata: encoding with %s (NVENC cannot be given it)", cpu.codec)
        return cpu

    def check_size(self, height: int, width: int, pix_fmt: str) -> None:
        """Subsampled chroma needs dimensions divisible by the subsampling factor, and the
        encoder must take frames of that size (it is asked: it opens once, at that size,
        and is closed; libx264 stops at 16384 pixels a side, NVENC's limits are lower)."""
        fmt = av.VideoFormat(pix_fmt, 64, 64)
        step_w, step_h = 64 // fmt.chroma_width(), 64 // fmt.chroma_height()
        if width % step_w or height % step_h or width <= 0 or height <= 0:
            raise UnsupportedCodecError(
                f"{self.spec.name} with {pix_fmt} needs a width divisible by {step_w} and a "
                f"height divisible by {step_h}, but the frames are {width}x{height}"
            )
        e = _open_error(self.spec.name, width, height, pix_fmt, self.encoder_options())
        if e is not None:
            raise UnsupportedCodecError(
                f"{self.spec.name} cannot encode {width}x{height} frames (it refused to "
                f"open at that size: {getattr(e, 'strerror', None) or e}); choose a smaller "
                "--outscale"
            )

    def _encoder_formats(self) -> set[str]:
        return {f.name for f in av.Codec(self.spec.name, "w").video_formats or ()}


@functools.cache
def _log_fallback(gpu: str, why_not: str, cpu: str) -> None:
    log.warning("%s cannot open here (%s); encoding with %s", gpu, why_not, cpu)
