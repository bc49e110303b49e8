"""Reading a written file's streams back, for the job's certificate: the payload of every
packet of each stream of a kind, and the cues of each subtitle stream."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import av

from rayapp import storage

__all__ = ["Cue", "stream_cues", "stream_payloads"]

Cue = tuple[int, int, bytes]  # start ms, end ms, the cue's text and styles (``_styled``)
# An ASS override block ({\i1}, {\b0}, {\r}, ...), as FFmpeg gives every text cue.
_OVERRIDES = re.compile(rb"\{([^}]*)\}")
_STYLE = re.compile(rb"\\(?:(r)[^\\]*|([ibus])(\d*)(?=\\|$))")  # \r[style]; \i1, \b0, ...


@contextlib.contextmanager
def _open(uri: str) -> Iterator[av.container.InputContainer]:
    with storage.open_input(uri) as f, av.open(f) as container:
        yield container


def stream_payloads(uri: str, kind: str) -> list[list[bytes]]:
    """Per stream of ``kind`` (``audio``, ``subtitle``, ...), in file order: the payload of
    each of its packets (empty flush packets left out). AAC is its raw frames: MPEG-TS
    carries each behind an ADTS header, which MP4 and Matroska (raw AAC, the header's
    facts in the stream's configuration) leave out when they copy the packet."""
    with _open(uri) as container:
        streams = [s for s in container.streams if s.type == kind]
        payloads: dict[int, list[bytes]] = {s.index: [] for s in streams}
        aac = {s.index for s in streams if s.codec_context.name == "aac"}
        if streams:  # demux() of no stream would mean every stream
            for packet in container.demux(streams):
                if packet.size:
                    data = bytes(packet)
                    if packet.stream_index in aac:
                        data = _without_adts(data)
                    payloads[packet.stream_index].append(data)
        return [payloads[s.index] for s in streams]


def _without_adts(frame: bytes) -> bytes:
    """An AAC frame without its ADTS header (7 bytes, 9 with a CRC), if it has one."""
    if len(frame) >= 7 and frame[0] == 0xFF and frame[1] & 0xF6 == 0xF0:
        return frame[7 if frame[1] & 0x01 else 9 :]
    return frame


def stream_cues(uri: str) -> list[list[Cue]]:
    """Per subtitle stream: (start_ms, end_ms, text) of every non-empty cue, decoded, so
    that a cue converted to another text format compares equal to its source; a bitmap
    cue (DVD, Blu-ray, DVB), only ever copied, gives its packet's bytes."""
    with _open(uri) as container:
        cues: list[list[Cue]] = []
        for stream in container.streams.subtitles:
            found: list[Cue] = []
            bitmap = stream.codec_context.codec.bitmap_sub
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                start = round(packet.pts * packet.time_base * 1000)
                end = start + round(packet.duration * packet.time_base * 1000)
                if bitmap:
                    found.append((start, end, bytes(packet)))
                    continue
                found += [(start, end, _styled(s.dialogue)) for s in stream.decode(packet)]
            cues.append(found)
            container.seek(0)
        return cues


def _styled(dialogue: bytes) -> bytes:
    """A cue's text with its italic, bold, underline and strike-out spans said one way:
    formats write the same styles with other tags (MP4's mov_text ends an italic span
    with a reset, ``{\\r}``, where SubRip wrote ``{\\i0}``). Each run of text is led
    by the styles on it (``{ib}``); other tags are left out."""
    out, on = bytearray(), set()
    at, shown = 0, frozenset()
    for match in _OVERRIDES.finditer(dialogue + b"{}"):
        text = dialogue[at : match.start()]
        if text:
            if on != shown:
                out += b"{" + bytes(sorted(on)) + b"}"
                shown = frozenset(on)
            out += text
        for reset, tag, value in _STYLE.findall(match[1]):
            if reset:
                on.clear()
            elif value in (b"", b"0"):
                on.discard(tag[0])
            else:
                on.add(tag[0])
        at = match.end()
    return bytes(out)
