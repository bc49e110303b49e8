"""A job's preview as HLS: each finished chunk, with the source's audio for its time range,
as one segment, and the playlist (RFC 8216) that lists them.

H.264 goes in MPEG-TS segments, which every HLS player takes; HEVC and AV1 in fragmented
MP4 (CMAF), as HLS carries them: each segment's ``moof``/``mdat`` in ``<name>.m4s`` and the
chunk's own initialization (``ftyp``/``moov``: its encoder's parameter sets) in
``<name>.init.mp4``, named by an ``#EXT-X-MAP`` before the segment.

Segments keep the source timeline (shifted by ``OFFSET_S``, so that audio that starts
before the video, such as AAC priming, stays above zero), so consecutive segments play as
one stream: in fMP4 each track's first decode time (``tfdt``) is its first packet's. Each
audio packet goes to the segment whose time range holds its start.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av

from rayapp import storage
from rayapp.errors import ConfigError
from rayapp.video._encode import Chunk
from rayapp.video._info import MediaInfo
from rayapp.video._remux import VideoPackets, time_key

__all__ = [
    "HLS_CODECS",
    "PlaylistEntry",
    "hls_init_name",
    "hls_playlist",
    "hls_segment_name",
    "write_hls_segment",
]

OFFSET_S = 10
# The codecs a preview's segments carry: MPEG-TS for H.264; fragmented MP4 for the others.
HLS_CODECS = ("h264", "hevc", "av1")
_TS_CODECS = ("h264",)
# Fragments from each keyframe, no edit list, timestamps as they are (not moved to zero):
# the first tfdt is then the first packet's decode time, and the segments line up.
_FMP4_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof+frag_discont",
    "use_editlist": "0",
    "avoid_negative_ts": "disabled",
}
_INIT_BOXES = (b"ftyp", b"moov")
_MEDIA_BOXES = (b"styp", b"moof", b"mdat")


@dataclass(frozen=True)
class PlaylistEntry:
    """One published segment: its file name (relative to the playlist), its seconds, and
    its initialization's file name (fMP4; None for MPEG-TS)."""

    name: str
    duration_s: float
    init: str | None = None


def hls_segment_name(stem: str, codec: str) -> str:
    """The file name of the segment ``stem`` of a ``codec`` stream."""
    return f"{stem}.ts" if codec in _TS_CODECS else f"{stem}.m4s"


def hls_init_name(name: str) -> str | None:
    """The file name (or URI) of segment ``name``'s initialization (None for MPEG-TS)."""
    return name.removesuffix(".m4s") + ".init.mp4" if name.endswith(".m4s") else None


def write_hls_segment(
    chunk: Chunk,
    source: MediaInfo,
    uri: str,
    *,
    start_s: Fraction | None,
    end_s: Fraction | None,
) -> None:
    """Write ``chunk``'s video and the source's audio packets that start in ``[start_s,
    end_s)`` (None: unbounded on that side) as one segment at ``uri`` (its name from
    ``hls_segment_name``), atomically; a fragmented MP4 segment's initialization first, at
    ``hls_init_name``."""
    video = VideoPackets([chunk], source.video)
    if video.codec not in HLS_CODECS:
        raise ConfigError(
            f"A preview's segments carry {', '.join(HLS_CODECS)}; this job encodes {video.codec}"
        )
    if video.codec in _TS_CODECS:
        with storage.atomic_write(uri, suffix=".ts") as tmp:
            _mux_segment(video, source, tmp, "mpegts", {}, start_s, end_s)
        return
    buffer = io.BytesIO()
    _mux_segment(video, source, buffer, "mp4", _FMP4_OPTIONS, start_s, end_s)
    init_uri = hls_init_name(uri)
    if init_uri is None:
        raise ValueError(f"{uri}: a {video.codec} segment is fragmented MP4 (.m4s)")
    boxes = list(_top_boxes(buffer.getvalue()))
    storage.write_bytes(init_uri, b"".join(data for kind, data in boxes if kind in _INIT_BOXES))
    storage.write_bytes(uri, b"".join(data for kind, data in boxes if kind in _MEDIA_BOXES))


def _mux_segment(
    video: VideoPackets,
    source: MediaInfo,
    target: str | io.BytesIO,
    format: str,
    options: dict[str, str],
    start_s: Fraction | None,
    end_s: Fraction | None,
) -> None:
    options = {**options, "output_ts_offset": str(OFFSET_S)}
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(av.open(target, "w", format=format, options=options))
        video_out = video.add_stream(out)
        streams: list[Iterator[av.Packet]] = [video.packets(video_out)]
        if source.audio:
            f = stack.enter_context(storage.open_input(source.uri))
            src = stack.enter_context(av.open(f, "r"))
            audio = src.streams[source.audio[0].index]
            audio_out = out.add_stream_from_template(audio)
            streams.append(_audio_between(src, audio, audio_out, start_s, end_s))
        out.start_encoding()
        for packet in heapq.merge(*streams, key=time_key):
            out.mux(packet)


def _audio_between(
    src: av.container.InputContainer,
    audio: av.AudioStream,
    out: av.AudioStream,
    start_s: Fraction | None,
    end_s: Fraction | None,
) -> Iterator[av.Packet]:
    tb = audio.time_base
    if start_s is not None:
        src.seek(max(0, math.floor(start_s / tb) - 1), stream=audio, backward=True)
    for packet in src.demux(audio):
        if packet.pts is None or packet.size == 0:
            continue
        at = packet.pts * tb
        if start_s is not None and at < start_s:
            continue
        if end_s is not None and at >= end_s:
            return
        packet.stream = out
        yield packet


def _top_boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The top-level boxes of an MP4 file: (type, the whole box)."""
    at = 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size == 1:  # a 64-bit size follows the type
            size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
        end = len(data) if size == 0 else at + size
        yield kind, data[at:end]
        at = end


def hls_playlist(entries: Sequence[PlaylistEntry], target_s: float, *, ended: bool) -> str:
    """An EVENT playlist of ``entries`` (segments only ever added), closed when ``ended``.
    ``target_s``: the longest segment the job can publish (fixed for the playlist's life).
    An fMP4 segment's initialization is named (``#EXT-X-MAP``, version 7) where it changes."""
    fmp4 = any(entry.init for entry in entries)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{7 if fmp4 else 3}",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(target_s))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
    ]
    init = None
    for entry in entries:
        if entry.init and entry.init != init:
            lines.append(f'#EXT-X-MAP:URI="{entry.init}"')
            init = entry.init
        lines += [f"#EXTINF:{entry.duration_s:.6f},", entry.name]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
