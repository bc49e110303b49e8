"""Text subtitle conversion for containers that cannot carry the source's subtitle codec.

FFmpeg decodes every text subtitle format to ASS events and its text encoders (mov_text,
webvtt, subrip) take ASS events, so one decode/encode pair converts any text cue, keeping
its timing. Bitmap subtitles are never converted (see ``containers.plan_output``).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av

from rayapp.errors import ContainerError

__all__ = ["ASS_HEADER", "SubtitleConverter", "add_text_subtitle_stream"]

# FFmpeg's text subtitle encoders parse cues against an ASS header and refuse to open
# without one; this is the minimal default (one "Default" style).
ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n"
    b"[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
    b"OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, "
    b"Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, "
    b"Encoding\nStyle: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,"
    b"1,1,0,2,10,10,10,0\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, "
    b"MarginR, MarginV, Effect, Text\n"
)

_MICROSECONDS = Fraction(1, 1_000_000)


def add_text_subtitle_stream(
    out: av.container.OutputContainer, codec: str, header: bytes | None = None
) -> av.subtitles.stream.SubtitleStream:
    """A text subtitle output stream counting in milliseconds."""
    stream = out.add_stream(codec)
    stream.time_base = Fraction(1, 1000)
    stream.codec_context.time_base = Fraction(1, 1000)
    stream.codec_context.subtitle_header = header or ASS_HEADER
    return stream


class SubtitleConverter:
    """Decode cues of ``source`` and re-encode them as ``codec`` into a new stream of ``out``."""

    def __init__(
        self,
        source: av.subtitles.stream.SubtitleStream,
        out: av.container.OutputContainer,
        codec: str,
    ) -> None:
        self.source = source
        self.codec = codec
        source.codec_context.open(strict=False)  # the decoder makes the ASS header on open
        header = source.codec_context.subtitle_header
        self.stream = add_text_subtitle_stream(out, codec, header)

    def convert(self, packet: av.Packet) -> Iterator[av.Packet]:
        try:
            cues = self.source.decode2(packet)
        except av.FFmpegError as e:
            raise ContainerError(
                f"Cannot convert subtitle stream #{self.source.index} to {self.codec}: "
                f"a cue at pts {packet.pts} does not decode: {e}"
            ) from e
        if cues is None or len(cues) == 0:
            return  # e.g. mov_text's empty "gap" samples: nothing to show
        pts = packet.pts if packet.pts is not None else packet.dts
        duration = packet.duration or 0
        cues.pts = round(pts * packet.time_base / _MICROSECONDS)
        cues.start_display_time = 0
        cues.end_display_time = round(duration * packet.time_base * 1000)
        encoded = self.stream.codec_context.encode_subtitle(cues)
        encoded.pts = encoded.dts = pts
        encoded.duration = duration
        encoded.time_base = packet.time_base
        encoded.stream = self.stream
        yield encoded
