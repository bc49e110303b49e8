"""Reading generated files back: pattern indices, packets and subtitle cues."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av

from rayapp import storage
from rayapp.testing.patterns import read_frame_index
from rayapp.video import stream_cues, to_rgb

__all__ = ["Decoded", "decode_video", "stream_packets", "subtitle_cues"]


@dataclass(frozen=True)
class Decoded:
    """What a file's first video stream shows: pts, time base and the pattern indices."""

    pts: list[int]
    time_base: Fraction
    indices: list[int]


@contextlib.contextmanager
def _open(uri: str) -> Iterator[av.container.InputContainer]:
    """Any fsspec URI (local, s3://, memory://) as a PyAV input container."""
    with storage.open_input(uri) as f, av.open(f) as container:
        yield container


def decode_video(uri: str) -> Decoded:
    with _open(uri) as container:
        stream = container.streams.video[0]
        frames = [(f.pts, read_frame_index(to_rgb(f))) for f in container.decode(stream)]
        return Decoded([p for p, _ in frames], stream.time_base, [i for _, i in frames])


def stream_packets(uri: str, kind: str) -> list[av.Packet]:
    with _open(uri) as container:
        streams = [s for s in container.streams if s.type == kind]
        # demux() with no stream would mean every stream.
        return [p for p in container.demux(streams) if p.size] if streams else []


def subtitle_cues(uri: str) -> list[tuple[int, int, bytes]]:
    """(start_ms, end_ms, text) of every non-empty cue of the first subtitle stream."""
    return stream_cues(uri)[0]
