"""What the hostile-media table tests assert of an output: frame-exact against its source
(every frame, at its time; audio and subtitle packets byte-identical, stream by stream)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from rayapp import storage
from tests.hostile import VIDEO_CASES

CASES = {case.name: case for case in VIDEO_CASES}


def output_for(src: str, folder: Path) -> Path:
    """Where a case's output goes: the same container as its input (MKV for the rest)."""
    ext = Path(src).suffix if Path(src).suffix in (".mp4", ".mkv") else ".mkv"
    return folder / "out" / f"result{ext}"


def upload(local: str, uri: str) -> None:
    """A file to ``uri``; a folder to the same names under it; nothing for nothing."""
    path = Path(local)
    if path.is_file():
        storage.write_bytes(uri, path.read_bytes())
    for part in path.glob("*"):
        storage.write_bytes(f"{uri}/{part.name}", part.read_bytes())


def _video(container: av.container.InputContainer) -> av.VideoStream:
    return next(
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    )


def media_facts(path: str) -> tuple[list[Fraction], dict[str, list[list[bytes]]]]:
    """(every decoded frame's time in seconds, sorted; per kind, each stream's packets)."""
    with av.open(path) as container:
        video = _video(container)
        times = sorted(f.pts * video.time_base for f in container.decode(video))
    packets: dict[str, list[list[bytes]]] = {}
    with av.open(path) as container:
        streams = [s for s in container.streams if s.type in ("audio", "subtitle")]
        by_index = {s.index: [] for s in streams}
        for p in container.demux(streams) if streams else ():
            if p.size:
                by_index[p.stream.index].append(bytes(p))
        for s in streams:
            packets.setdefault(s.type, []).append(by_index[s.index])
    return times, packets


def assert_frame_exact(src: str, out: str, folder: Path) -> None:
    """``out`` (any URI) has ``src``'s frames at ``src``'s times, and its sound and text."""
    local = folder / f"check{Path(out).suffix}"
    local.write_bytes(storage.read_bytes(out))
    want_times, want_packets = media_facts(src)
    got_times, got_packets = media_facts(str(local))
    assert len(got_times) == len(want_times)
    assert got_times == want_times
    assert got_packets.get("audio", []) == want_packets.get("audio", [])
    assert got_packets.get("subtitle", []) == want_packets.get("subtitle", [])
    local.unlink()
