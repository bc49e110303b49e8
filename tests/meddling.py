"""Meddling with a job's work from outside, as a second writer of its work prefix would: a
finished chunk changed where its record cannot tell, so that only the certificate can."""

from __future__ import annotations

import io

import av

from rayapp import storage


def finished_chunks(out: str) -> list[str]:
    """The chunks that jobs writing ``out`` finished (each with its record), under its one
    work prefix (the default, beside ``out``)."""
    base = f"{out}.rayapp-work"
    [work] = [storage.join(base, name) for name in storage.list_names(base)]
    names = storage.list_names(work)
    return sorted(storage.join(work, n) for n in names if n + ".json" in names)


def strip_captions(uri: str) -> None:
    """Rewrites the H.264 chunk at ``uri`` without its SEI units, where its captions are
    (the stream's parameter sets and every frame unchanged)."""
    written = io.BytesIO()
    with av.open(io.BytesIO(storage.read_bytes(uri))) as chunk, av.open(written, "w", "mp4") as out:
        stream = chunk.streams.video[0]
        kept = out.add_stream_from_template(stream, opaque=True)
        strip = av.BitStreamFilterContext("filter_units=remove_types=6", stream, kept)
        for packet in chunk.demux(stream):  # the last is empty: the filter's flush
            for stripped in strip.filter(packet if packet.size else None):
                stripped.stream = kept
                out.mux(stripped)
    storage.write_bytes(uri, written.getvalue())
