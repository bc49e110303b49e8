"""A video job's growing preview (``--preview``): its finished chunks as an HLS playlist at
``<output>.preview/index.m3u8``, to watch while the job runs.

Chunks finish out of order; a chunk's segment is published once every chunk before it is
done, so the playlist only ever grows at its end, in frame order (an EVENT playlist). The
playlist appears with the first segment (players give up on an empty one) and is rewritten
whole and atomically after each publication, and closed
(``#EXT-X-ENDLIST``) when the job's output is made. The preview goes with the work prefix
after a job succeeds, unless kept (``--keep-preview``).
"""

from __future__ import annotations

import logging
import threading
from fractions import Fraction

from rayapp import storage
from rayapp.errors import ConfigError
from rayapp.video import (
    HLS_CODECS,
    Chunk,
    JobPlan,
    PlaylistEntry,
    hls_init_name,
    hls_playlist,
    hls_segment_name,
    write_hls_segment,
)

__all__ = ["PLAYLIST", "Preview", "preview_uri"]

log = logging.getLogger(__name__)

PLAYLIST = "index.m3u8"


def preview_uri(output_uri: str) -> str:
    """The folder (prefix) of a job's preview."""
    return f"{output_uri}.preview"


class Preview:
    """The preview of one job: ``add`` each chunk as it is done (from any thread), ``close``
    once the output is made, ``remove`` to drop it."""

    def __init__(self, plan: JobPlan, output_uri: str) -> None:
        family = plan.settings.spec.family
        if family not in HLS_CODECS:
            raise ConfigError(
                f"--preview publishes h264 (MPEG-TS), hevc or av1 (fragmented MP4) segments; "
                f"this job encodes {family}: choose one of those codecs, or no preview"
            )
        self._family = family
        self.uri = preview_uri(output_uri)
        self._plan = plan
        video = plan.info.video
        starts = [run.start for run in plan.runs]
        self._times = [video.frame_pts[i] * video.time_base for i in starts]
        end = (video.frame_pts[-1] + video.last_frame_duration) * video.time_base
        self._times.append(end)
        spans = zip(self._times, self._times[1:], strict=False)
        self._target_s = float(max(b - a for a, b in spans))
        self._starts = starts
        self._done: dict[int, Chunk] = {}
        self._entries: list[PlaylistEntry] = []
        self._lock = threading.Lock()
        self.remove()  # an earlier run's; the playlist appears with the first segment

    @property
    def published(self) -> int:
        """Segments published so far."""
        return len(self._entries)

    @property
    def playlist(self) -> str:
        return storage.join(self.uri, PLAYLIST)

    def add(self, chunk: Chunk) -> None:
        """A finished chunk: publish it and every chunk after it that waited for it."""
        with self._lock:
            self._done[chunk.first_frame_index] = chunk
            published = False
            while (n := len(self._entries)) < len(self._starts) and self._starts[n] in self._done:
                self._publish(n, self._done.pop(self._starts[n]))
                published = True
            if published:
                self._write(ended=False)

    def close(self) -> None:
        """Every chunk is published: close the playlist."""
        with self._lock:
            if len(self._entries) != len(self._starts):
                raise RuntimeError(
                    f"preview {self.uri}: {len(self._entries)} of {len(self._starts)} "
                    "chunks published at the end"
                )
            self._write(ended=True)

    def remove(self) -> None:
        storage.remove(self.uri, recursive=True)

    def _publish(self, n: int, chunk: Chunk) -> None:
        name = hls_segment_name(f"segment-{chunk.first_frame_index:09d}", self._family)
        start: Fraction | None = self._times[n] if n > 0 else None
        end: Fraction | None = self._times[n + 1] if n + 1 < len(self._starts) else None
        write_hls_segment(
            chunk, self._plan.info, storage.join(self.uri, name), start_s=start, end_s=end
        )
        seconds = float(self._times[n + 1] - self._times[n])
        self._entries.append(PlaylistEntry(name, seconds, init=hls_init_name(name)))
        log.debug("preview: published %s", name)

    def _write(self, *, ended: bool) -> None:
        text = hls_playlist(self._entries, self._target_s, ended=ended)
        storage.write_bytes(self.playlist, text.encode())
