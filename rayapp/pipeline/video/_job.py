"""run_video_job: one video job, whichever runner makes its chunks (docs/architecture.md,
"The video job").

probe and plan (segments, runs, output size, checks) -> the work prefix named by the job's
fingerprint, and the chunks finished there by an earlier run -> a runner makes the rest
(on Ray: decode tasks streaming runs to replica actors; or the same stages in a loop in
this process) -> the chunks are checked to cover every frame exactly once and remuxed with
the source's audio and subtitles into the output, written atomically, read back.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rayapp import storage
from rayapp.config import UpscaleConfig, VideoJobConfig
from rayapp.pipeline.certificate import FAILED_REPORT, certify, check_assembled, sampled_frames
from rayapp.pipeline.planning import estimate_job, job_faces, lanes_on, plan_video_job
from rayapp.pipeline.progress import JobMetrics, LogProgress, ProgressSink, ProgressTracker
from rayapp.pipeline.runners import ChunkRunner, Runner, open_runner
from rayapp.pipeline.stages import FrameUpscaler
from rayapp.pipeline.video._preview import Preview
from rayapp.pipeline.work import (
    ChunkRecord,
    EncodeJob,
    PipelineWork,
    finished_chunks,
    output_fingerprint,
    work_prefix,
)
from rayapp.video import JobPlan, assemble, preflight

__all__ = [
    "Started",
    "VideoJobResult",
    "job_upscaler",
    "model_identity",
    "run_video_job",
    "video_on",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoJobResult:
    output_uri: str
    frames: int
    duration_s: float
    input_size: tuple[int, int]  # (width, height)
    output_size: tuple[int, int]  # (width, height)
    video_codec: str
    segments: int
    chunks: tuple[ChunkRecord, ...]  # in frame order
    report: dict  # the certificate, as written beside the output (rayapp.pipeline.certificate)
    started_at: float  # wall clock (time.time()), as the chunks' times
    cluster_at: float  # when the runner was up (Ray joined or started; this process: at once)
    elapsed_s: float

    @property
    def chunks_total(self) -> int:
        return len(self.chunks)

    @property
    def chunks_reused(self) -> int:
        return sum(c.reused for c in self.chunks)

    @property
    def chunks_computed(self) -> int:
        return self.chunks_total - self.chunks_reused

    @property
    def frames_skipped(self) -> int:
        """Repeated frames that took the upscaled result of the frame they repeat."""
        return sum(c.frames_skipped for c in self.chunks)

    def describe(self) -> str:
        """The job's one line: what was written, how, and how fast."""
        (w, h), (ow, oh) = self.input_size, self.output_size
        return (
            f"wrote {self.output_uri}: {self.frames} frames, {w}x{h} -> {ow}x{oh} "
            f"{self.video_codec}, {self.chunks_computed} chunks computed, "
            f"{self.chunks_reused} reused, {self.frames_skipped} repeats skipped, "
            f"{self.elapsed_s:.1f} s ({self.frames / max(self.elapsed_s, 1e-9):.2f} fps)"
        )


def run_video_job(
    config: VideoJobConfig,
    *,
    runner: Runner = "ray",
    progress: Iterable[ProgressSink] = (LogProgress(),),
    upscaler: FrameUpscaler | None = None,
) -> VideoJobResult:
    """Upscale ``config.input`` into ``config.output`` (container from its extension).

    ``runner``: ``"ray"`` runs on the cluster this process is connected to (or a local
    embedded Ray); ``"local"`` runs the same stages in this process. Both cut the same
    chunks under the same work prefix, so one can resume what the other started.
    ``upscaler`` replaces the model ``config.upscale`` names (any ``FrameUpscaler``).
    Everything that can be checked before decoding (codec, container, frame size) is, and
    the Ray runner's replicas load their model while the job plans.
    """
    started = Started.now()
    upscaler = job_upscaler(config, upscaler)
    preflight(config.input, config.output)  # the cheap checks, before any cluster starts
    if config.interpolate > 1:
        from rayapp.pipeline.stages import check_interpolator  # OpenCV: when it interpolates

        check_interpolator(config.interpolator)
    with contextlib.closing(open_runner(runner, config, upscaler)) as opened:
        if runner != "local":  # the job's gauges, on the cluster's metrics endpoint
            progress = [*progress, JobMetrics(config.output)]
        return video_on(opened, config, upscaler, progress, started)


def job_upscaler(config: VideoJobConfig, upscaler: FrameUpscaler | None) -> FrameUpscaler | None:
    """The upscaler a job runs: ``upscaler``, or a downscale job's ``Downscaler`` (None:
    the model ``config.upscale`` names, loaded where the replicas run)."""
    if config.mode == "downscale" and upscaler is None:
        from rayapp.resize import Downscaler  # torch: loaded once the input is known good

        return Downscaler(config.downscale)
    return upscaler


@dataclass(frozen=True)
class Started:
    """When a job began, on both clocks: ``monotonic`` for its elapsed seconds, ``wall``
    (``time.time()``) to compare with its chunks' times."""

    monotonic: float
    wall: float

    @classmethod
    def now(cls) -> Started:
        return cls(time.monotonic(), time.time())


def video_on(
    runner: ChunkRunner,
    config: VideoJobConfig,
    upscaler: FrameUpscaler | None,
    progress: Iterable[ProgressSink],
    started: Started,
) -> VideoJobResult:
    """``run_video_job`` on a ``runner`` that is already up (an archive's runner serves
    every video): plan, make the chunks not finished earlier, assemble, certify."""
    cluster_at = time.time()
    # Planned where the replicas run, before any chunk; the actual time counts from here.
    estimated_s = runner.call(estimate_job, config) if config.estimate else None
    planned = time.monotonic()
    plan = plan_video_job(config, upscaler, lanes=lanes_on(runner.node(), config, upscaler))
    identity = model_identity(config.upscale, upscaler)
    work = work_prefix(config, identity, plan.size, plan.chunk_frames)
    pairs, sampled = sampled_frames(
        plan.info.video.frame_count,
        [r.start for r in plan.runs],
        plan.cut.scenes,
        config.report_frames,
        plan.interpolate,
    )
    job = EncodeJob.of(
        plan.info.video,
        size=plan.size,
        settings=plan.settings,
        work=work,
        micro_batch=config.micro_batch,
        dedup_threshold=config.effective_dedup_threshold,
        sampled_pairs=pairs if config.report_frames else (),
        sampled=sampled if config.report_frames else (),
        deflicker=config.deflicker_strength if config.deflicker else None,
        interpolate=plan.interpolate,
        interpolator=config.interpolator,
        faces=job_faces(config, upscaler),
    )
    preview = Preview(plan, config.output) if config.preview else None
    try:
        chunks = _make_chunks(runner, plan, job, progress, preview)
        video = plan.info.video

        def check(path: str) -> dict[str, Any]:  # the assembled output, before it is published
            return check_assembled(
                plan.info,
                path,
                config.output,
                chunks,
                elapsed_s=time.monotonic() - started.monotonic,
                failed_uri=storage.join(work, FAILED_REPORT),
                deinterlace=plan.deinterlace,
                every=plan.interpolate,
                scene_starts=plan.cut.scenes,
            )

        assembled = assemble(
            [c.chunk for c in chunks],
            plan.info,
            config.output,
            plan=plan.output,
            original_size=(video.width, video.height) if config.mode == "downscale" else None,
            check=check,
        )
        report = certify(
            plan.info,
            config.output,
            chunks,
            checks=assembled.checked,
            samples=config.report_frames,
            elapsed_s=time.monotonic() - started.monotonic,
            measure=runner.call,
            estimate=None if estimated_s is None else _estimate(estimated_s, planned),
            made_by=output_fingerprint(config, identity),
            deinterlace=plan.deinterlace,
            scene_starts=plan.cut.scenes,
            every=plan.interpolate,
        )
        if preview is not None:
            preview.close()
    except BaseException:
        _remove_if_empty(work)  # a failure before any chunk leaves no folder behind
        if preview is not None and not preview.published:
            preview.remove()
        raise
    if not config.keep_work:
        _remove(work)
    if preview is not None and not config.keep_preview:
        preview.remove()
    video = plan.info.video
    return VideoJobResult(
        output_uri=config.output,
        frames=assembled.frames,
        duration_s=video.duration_s,
        input_size=(video.width, video.height),
        output_size=(assembled.width, assembled.height),
        video_codec=assembled.video_codec,
        segments=len(plan.segments),
        chunks=tuple(chunks),
        report=report,
        started_at=started.wall,
        cluster_at=cluster_at,
        elapsed_s=time.monotonic() - started.monotonic,
    )


def _make_chunks(
    runner: ChunkRunner,
    plan: JobPlan,
    job: EncodeJob,
    progress: Iterable[ProgressSink],
    preview: Preview | None = None,
) -> list[ChunkRecord]:
    """Every chunk of the plan, in frame order: those finished under the work prefix by an
    earlier run, and the rest made by the runner, each reported to ``progress`` and added
    to the ``preview``."""
    reused = [
        ChunkRecord(chunk, reused=True, frames_skipped=skipped, quality=quality)
        for chunk, skipped, quality in finished_chunks(job.work, plan.runs).values()
    ]
    done = {c.chunk.first_frame_index for c in reused}
    todo = tuple(r for r in plan.runs if r.start not in done)
    video = plan.info.video
    log.info(
        "%s: %d frames, %d segments, %s (%d finished earlier) -> %dx%d",
        plan.info.uri,
        video.frame_count,
        len(plan.segments),
        plan.cut.describe(),
        len(reused),
        plan.size[1],
        plan.size[0],
    )
    tracker = ProgressTracker(
        progress, frames_total=video.frame_count, chunks_total=len(plan.runs), reused=reused
    )
    made: list[ChunkRecord] = []
    if preview is not None:
        for record in reused:
            preview.add(record.chunk)

    def on_chunk(record: ChunkRecord) -> None:
        made.append(record)
        if preview is not None:  # before the sinks hear of it: they may look
            preview.add(record.chunk)
        tracker.chunk_done(record)

    if todo:
        runner.run(PipelineWork(plan.info.uri, plan.depth, plan.segments, todo, job), on_chunk)
    return sorted([*reused, *made], key=lambda c: c.chunk.first_frame_index)


def _estimate(estimated_s: float, planned: float) -> dict[str, float]:
    """The plan's estimate against the time from the end of planning to the certificate
    (the plan counts replica start-up, not a Ray start that is already done)."""
    actual_s = time.monotonic() - planned
    return {"estimated_s": estimated_s, "actual_s": actual_s, "ratio": estimated_s / actual_s}


def model_identity(upscale: UpscaleConfig, upscaler: FrameUpscaler | None) -> str:
    """What decides the pixels a model makes, for the job's fingerprint."""
    return upscale.identity if upscaler is None else upscaler.identity


def _remove(work: str) -> None:
    storage.remove(work, recursive=True)
    _remove_empty_parent(*storage.filesystem(work))


def _remove_if_empty(work: str) -> None:
    fs, path = storage.filesystem(work)
    try:
        if fs.exists(path) and not fs.find(path):
            fs.rm(path, recursive=True)
        _remove_empty_parent(fs, path)
    except OSError:
        log.debug("could not tidy %s", work, exc_info=True)  # never hides the job's own error


def _remove_empty_parent(fs, path: str) -> None:  # noqa: ANN001 - an fsspec filesystem
    parent = path.rsplit("/", 1)[0]
    try:
        if fs.exists(parent) and not fs.ls(parent):
            fs.rm(parent, recursive=True)
    except (FileNotFoundError, OSError):
        pass  # someone else's work may live there; leaving an empty folder is harmless
