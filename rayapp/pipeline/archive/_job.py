"""run_archive_job: every video under a prefix (or named in a list) in one job, through one
runner (docs/architecture.md, "An archive").

list the input (a video extension, or any other file whose header shows a video stream)
-> per video, in order: skipped when its output already holds a certificate that is ok
and names the same fingerprint (nothing decoded), else the video job on the archive's
runner (``_video.video_on``) -> one row of the archive's table, written beside the outputs
as each video ends (``rayapp-archive.csv`` and ``.json``).

One runner (one cluster connection, one replica pool) serves the whole archive. Two videos
are in hand at a time, each in a thread of the driver: while one video's chunks go through
the replicas, the next is probed and planned, and the last one assembled and certified. On
Ray their chunks share the replicas' encoders (``_ray_schedule.Lanes``): the next video's
runs take the encoders a video's last chunks leave free. The local runner makes one video's
chunks at a time. A video that fails (a broken file, a stream we cannot decode, a chunk out
of retries) gets its one line from the error table in its row and nothing at its output;
the others go on. The listing is ``_archive_list``'s, the table ``_archive_table``'s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from rayapp import storage
from rayapp.config import VideoJobConfig
from rayapp.errors import ConfigError, RayappError, describe
from rayapp.pipeline.archive._list import ArchiveVideo, list_archive, no_video_error
from rayapp.pipeline.archive._table import ArchiveResult, ArchiveRow, ArchiveTable
from rayapp.pipeline.certificate import REPORT_SUFFIX
from rayapp.pipeline.progress import JobMetrics, LogProgress, ProgressSink
from rayapp.pipeline.runners import ChunkRunner, Runner, open_runner
from rayapp.pipeline.stages import FrameUpscaler
from rayapp.pipeline.video import Started, job_upscaler, model_identity, video_on
from rayapp.pipeline.work import OnChunk, PipelineWork, output_fingerprint
from rayapp.video import OUTPUT_FORMATS

__all__ = ["certificate_ok", "run_archive_job", "video_config"]

log = logging.getLogger(__name__)

_IN_HAND = 2  # videos planned, made or assembled at once (module docstring)


def run_archive_job(
    config: VideoJobConfig,
    *,
    input_list: Sequence[str] | None = None,
    container: str | None = None,
    runner: Runner = "ray",
    progress: Iterable[ProgressSink] = (LogProgress(),),
    upscaler: FrameUpscaler | None = None,
    on_video: Callable[[dict[str, Any]], None] | None = None,
) -> ArchiveResult:
    """Upscale every video of the archive ``config.input`` (a prefix; or ``input_list``)
    into the prefix ``config.output`` (module docstring), each video as ``run_video_job``
    with ``config``'s settings would. ``InvalidVideoError`` (exit 2) when the input holds
    no video; a video that fails is a failed row, not an error. ``progress`` sees each
    video's chunks; ``on_video`` the archive's totals as each video ends
    (videos ended of the total, done, skipped, failed, frames, ETA, the table's URI: the
    jobs API publishes them)."""
    started = time.monotonic()
    if container is not None:
        container = "." + container.lower().lstrip(".")
        if container not in OUTPUT_FORMATS:
            raise ConfigError(
                f"Expected a container among {', '.join(OUTPUT_FORMATS)}, but got {container}"
            )
    listing = list_archive(config.input, config.output, input_list=input_list, container=container)
    source = "the list" if input_list is not None else config.input
    if not listing.videos:
        raise no_video_error(source, listing)
    log.info(
        "archive %s: %d videos, %d other files ignored",
        source,
        len(listing.videos),
        len(listing.ignored),
    )
    table = ArchiveTable(config.output, [v.input for v in listing.videos], started, on_video)
    upscaler = job_upscaler(config, upscaler)
    first = video_config(config, listing.videos[0])
    with contextlib.closing(open_runner(runner, first, upscaler)) as opened:
        shared = opened if opened.concurrent else _OneVideoAtATime(opened)
        progress = list(progress)
        if runner != "local":
            progress.append(JobMetrics(config.output))

        def one(video: ArchiveVideo) -> ArchiveRow:
            return _one_video(shared, video_config(config, video), upscaler, progress)

        _in_order(one, listing.videos, table.add, opened)
    return ArchiveResult(
        rows=tuple(table.rows),
        ignored=listing.ignored,
        table=table.uri + ".csv",
        elapsed_s=time.monotonic() - started,
    )


def video_config(config: VideoJobConfig, video: ArchiveVideo) -> VideoJobConfig:
    """One video's job in the archive ``config``: its input and output, and its own work
    folder under the archive's work prefix when one is given."""
    work = None
    if config.work is not None:  # each video its own folder under the archive's work prefix
        rel = video.output[len(config.output.rstrip("/")) :].lstrip("/")
        work = storage.join(config.work, rel)
    return config.model_copy(update={"input": video.input, "output": video.output, "work": work})


def _one_video(
    runner: ChunkRunner,
    config: VideoJobConfig,
    upscaler: FrameUpscaler | None,
    progress: Sequence[ProgressSink],
) -> ArchiveRow:
    started = Started.now()
    try:
        made_by = output_fingerprint(config, model_identity(config.upscale, upscaler))
        done = _certified(config.output, made_by)
        if done is not None:
            log.info("%s: certified earlier under the same fingerprint; skipped", config.input)
            return ArchiveRow(
                config.input,
                config.output,
                "skipped",
                frames=done["integrity"]["frames"]["output"],
                repeats_skipped=done["speed"]["frames_skipped"],
                certificate_ok=True,
            )
        result = video_on(runner, config, upscaler, progress, started)
    except Exception as e:  # noqa: BLE001 - the video fails; the archive goes on
        report = describe(e)
        if report is None:  # a bug: its traceback in the log, its line in the row
            log.exception("%s failed", config.input)
        line = report.message if report else f"{type(e).__name__}: {e}"
        log.warning("%s failed: %s", config.input, line)
        return ArchiveRow(config.input, config.output, "failed", error=line.splitlines()[0])
    seconds = time.monotonic() - started.monotonic
    return ArchiveRow(
        config.input,
        config.output,
        "done",
        frames=result.frames,
        seconds=round(seconds, 3),
        frames_per_s=round(result.frames / max(seconds, 1e-9), 3),
        repeats_skipped=result.frames_skipped,
        chunks_reused=result.chunks_reused,
        certificate_ok=certificate_ok(result.report),
    )


def certificate_ok(report: dict[str, Any]) -> bool:
    """Integrity kept, and no sampled frame an outlier."""
    measured = report.get("quality")
    return bool(report["integrity"]["ok"]) and (not measured or measured["consistency"]["ok"])


def _certified(output: str, made_by: str) -> dict[str, Any] | None:
    """The certificate beside ``output`` when the output exists and the certificate is ok
    and was made under ``made_by``; else None."""
    try:
        if not storage.exists(output):
            return None
        report = json.loads(storage.read_bytes(output + REPORT_SUFFIX))
    except (RayappError, OSError, ValueError):
        return None
    if report.get("made_by") != made_by or not certificate_ok(report):
        return None
    return report


class _OneVideoAtATime:
    """A runner whose jobs cannot share it at once (the local runner: each run has every
    CPU), its chunks made for one video at a time; planning, assembly and certificates of
    the videos in hand run meanwhile."""

    concurrent = False

    def __init__(self, runner: ChunkRunner) -> None:
        self._runner = runner
        self._lock = threading.Lock()

    def run(self, work: PipelineWork, on_chunk: OnChunk) -> None:
        with self._lock:
            self._runner.run(work, on_chunk)

    def node(self) -> tuple[float, float] | None:
        return self._runner.node()

    def call(self, fn, *args):  # noqa: ANN001, ANN002, ANN201 - as ChunkRunner.call
        return self._runner.call(fn, *args)

    def close(self) -> None:
        self._runner.close()


def _in_order(one, videos: Sequence[ArchiveVideo], add, runner: ChunkRunner) -> None:  # noqa: ANN001
    """``one(video)`` for every video, ``_IN_HAND`` at a time, each row to ``add`` as its
    video ends. Ctrl-C or SIGTERM closes the runner first, so that the videos in hand end
    with their chunks in flight (their finished chunks kept for a rerun)."""
    pool = ThreadPoolExecutor(_IN_HAND, thread_name_prefix="rayapp-video")
    waiting: deque[ArchiveVideo] = deque(videos)
    pending: set[Future[ArchiveRow]] = set()
    try:
        while waiting or pending:
            while waiting and len(pending) < _IN_HAND:
                pending.add(pool.submit(one, waiting.popleft()))
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                add(future.result())
    except BaseException:
        runner.close()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
