"""Interlaced frames in a stream that says it is progressive (or says nothing): a capture
re-encoded without its flags still has woven fields. FFmpeg's ``idet`` judges the first
frames from how each one's lines agree with their own field and with the other one.

On tiny frames its line statistics misjudge: it calls a 64x48 still test pattern
interlaced, and the same pattern at 128x96 progressive; from ``MIN_LINES`` up, on our
generated clips and sample footage, it calls woven fields interlaced and progressive
frames progressive (``tests/unit/test_broadcast.py``).
"""

from __future__ import annotations

import logging

import av

from rayapp import storage
from rayapp.video._info import MediaInfo

__all__ = ["detected_field_order"]

log = logging.getLogger(__name__)

FRAMES = 48  # the first frames judged
MIN_LINES = 120  # smaller frames: the stream's word is taken
MIN_JUDGED = 10  # frames idet must call either way (not undetermined)
INTERLACED_SHARE = 0.8  # of those, called tff or bff


def detected_field_order(info: MediaInfo) -> str | None:
    """tff or bff when ``idet`` finds the first ``FRAMES`` frames interlaced (at least
    ``INTERLACED_SHARE`` of ``MIN_JUDGED`` or more it could judge) though the stream does
    not say so; None otherwise, and for frames under ``MIN_LINES`` lines."""
    video = info.video
    if video.interlaced or video.height < MIN_LINES:
        return None
    counts = _idet(info.uri, video.index)
    tff, bff, progressive = counts["tff"], counts["bff"], counts["progressive"]
    judged = tff + bff + progressive
    if judged < MIN_JUDGED or tff + bff < INTERLACED_SHARE * judged:
        return None
    order = "tff" if tff >= bff else "bff"
    log.info(
        "%s says its frames are %s, but idet finds %d of %d interlaced (%s first): "
        "deinterlacing (--deinterlace off to keep them woven)",
        info.uri, video.field_order, tff + bff, judged, order,
    )  # fmt: skip
    return order


def _idet(uri: str, index: int) -> dict[str, int]:
    """idet's multi-frame counts (tff, bff, progressive, undetermined) over the first
    ``FRAMES`` frames of stream ``index``."""
    try:
        last = _last_judged(uri, index)
    except av.FFmpegError as e:  # the decode proper reports a broken stream, in its words
        log.debug("idet could not judge %s: %s", uri, e)
        last = None
    metadata = dict(last.metadata) if last is not None else {}
    return {
        kind: round(float(metadata.get(f"lavfi.idet.multiple.{kind}", 0)))
        for kind in ("tff", "bff", "progressive", "undetermined")
    }


def _last_judged(uri: str, index: int) -> av.VideoFrame | None:
    """The last frame out of idet (its metadata: the counts so far) after the first
    ``FRAMES`` frames of stream ``index``."""
    last = None
    with storage.open_input(uri) as f, av.open(f, "r") as container:
        stream = container.streams[index]
        graph = av.filter.Graph()
        source, idet, sink = (
            graph.add_buffer(template=stream),
            graph.add("idet"),
            graph.add("buffersink"),
        )
        source.link_to(idet)
        idet.link_to(sink)
        graph.configure()
        for n, frame in enumerate(container.decode(stream)):
            if n == FRAMES:
                break
            graph.push(frame)
            while True:
                try:
                    last = graph.pull()
                except (BlockingIOError, EOFError):
                    break
    return last
