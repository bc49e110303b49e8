"""A job's preview as HLS: each finished chunk, with the source's audio for its time range,
as one MPEG-TS segment, and the playlist (RFC 8216) that lists them.

Segments keep the source timeline (shifted by ``OFFSET_S``, so that audio that starts
before the video, such as AAC priming, stays above zero), so consecutive segments play as
one stream. Each audio packet goes to the segment whose time range holds its start.
"""

from __future__ import annotations

import contextlib
import heapq
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av

from rayapp import storage
from rayapp.errors import ConfigError
from rayapp.video._encode import Chunk
from rayapp.video._info import MediaInfo
from rayapp.video._remux import VideoPackets, time_key

__all__ = ["HLS_CODECS", "PlaylistEntry", "hls_playlist", "write_hls_segment"]

OFFSET_S = 10
HLS_CODECS = ("h264",)  # what MPEG-TS segments carry that browsers' HLS players play


@dataclass(frozen=True)
class PlaylistEntry:
    """One published segment: its file name (relative to the playlist) and its seconds."""

    name: str
    duration_s: float


def write_hls_segment(
    chunk: Chunk,
    source: MediaInfo,
    uri: str,
    *,
    start_s: Fraction | None,
    end_s: Fraction | None,
) -> None:
    """Write ``chunk``'s video and the source's audio packets that start in ``[start_s,
    end_s)`` (None: unbounded on that side) as one MPEG-TS segment at ``uri``, atomically."""
    video = VideoPackets([chunk], source.video)
    if video.codec not in HLS_CODECS:
        raise ConfigError(
            f"A preview's segments carry {', '.join(HLS_CODECS)}; this job encodes {video.codec}"
        )
    options = {"output_ts_offset": str(OFFSET_S)}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(storage.atomic_write(uri, suffix=".ts"))
        out = stack.enter_context(av.open(tmp, "w", format="mpegts", options=options))
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


def hls_playlist(entries: Sequence[PlaylistEntry], target_s: float, *, ended: bool) -> str:
    """An EVENT playlist of ``entries`` (segments only ever added), closed when ``ended``.
    ``target_s``: the longest segment the job can publish (fixed for the playlist's life)."""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(target_s))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
    ]
    for entry in entries:
        lines += [f"#EXTINF:{entry.duration_s:.6f},", entry.name]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
