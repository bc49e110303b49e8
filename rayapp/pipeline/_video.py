"""run_video_job: the distributed video pipeline (DESIGN.md "The video pipeline").

probe -> keyframe segments -> runs -> Ray Data: decode tasks (CPU) -> actor pool of model
replicas (upscale + encode one chunk per run) -> the driver orders the chunks, checks that
they cover every frame exactly once, and remuxes them with the source's audio and subtitles
into the output, written atomically.
"""

from __future__ import annotations

import functools
import logging
import pickle
import time
from dataclasses import dataclass

from rayapp import storage
from rayapp.config import VideoJobConfig, scaled_size
from rayapp.errors import FrameAccountingError
from rayapp.models import REGISTRY, load_model
from rayapp.pipeline._cluster import ensure_ray, replica_pool_args, replica_threads
from rayapp.pipeline._resume import finished_chunks, work_prefix
from rayapp.pipeline._stages import UpscaleEncode, decode_runs
from rayapp.pipeline.progress import ProgressLine
from rayapp.video import (
    Chunk,
    EncodeSettings,
    MediaInfo,
    Run,
    Segment,
    assemble,
    plan_job,
    probe,
)

__all__ = ["VideoJobResult", "run_video_job"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoJobResult:
    output_uri: str
    frames: int
    input_size: tuple[int, int]  # (width, height)
    output_size: tuple[int, int]
    video_codec: str
    chunks_total: int
    chunks_reused: int
    elapsed_s: float

    @property
    def chunks_computed(self) -> int:
        return self.chunks_total - self.chunks_reused


def _native_scale(config: VideoJobConfig) -> int:
    up = config.upscale
    if up.model in REGISTRY and up.weights is None:
        return REGISTRY[up.model].scale
    return load_model(up.model, up.weights).scale  # a checkpoint: its scale is in its weights


def run_video_job(config: VideoJobConfig) -> VideoJobResult:
    """Run the job on the Ray cluster this process is connected to (``ray.init`` first)."""
    started = time.monotonic()
    settings = EncodeSettings(codec=config.codec, crf=config.crf, preset=config.preset)
    outscale = config.upscale.outscale or _native_scale(config)
    job = plan_job(
        config.input,
        config.output,
        settings,
        lambda h, w: scaled_size(h, w, outscale),
        segment_s=config.segment_s,
        chunk_frames=config.chunk_frames,
    )
    info, segments, runs, size = job.info, job.segments, job.runs, job.size
    work = work_prefix(config)
    done = finished_chunks(work, runs)
    todo = [r for r in runs if r.start not in done]
    log.info(
        "%s: %d frames, %d segments, %d chunks (%d finished earlier) -> %s %dx%d",
        config.input,
        info.video.frame_count,
        len(segments),
        len(runs),
        len(done),
        config.output,
        size[1],
        size[0],
    )
    progress = ProgressLine(info.video.frame_count, sum(c.frame_count for c in done.values()))
    new = _run_pipeline(config, info, segments, todo, settings, work, job.depth, progress)
    chunks = sorted([*done.values(), *new], key=lambda c: c.first_frame_index)
    assembled = assemble(chunks, info, config.output, plan=job.output)
    _verify(config.output, info)
    if not config.keep_work:
        _remove(work)
    return VideoJobResult(
        output_uri=config.output,
        frames=assembled.frames,
        input_size=(info.video.width, info.video.height),
        output_size=(assembled.width, assembled.height),
        video_codec=assembled.video_codec,
        chunks_total=len(runs),
        chunks_reused=len(done),
        elapsed_s=time.monotonic() - started,
    )


def _run_pipeline(
    config: VideoJobConfig,
    info: MediaInfo,
    segments: tuple[Segment, ...],
    todo: list[Run],
    settings: EncodeSettings,
    work: str,
    depth: int,
    progress: ProgressLine,
) -> list[Chunk]:
    if not todo:
        return []
    import ray

    ensure_ray()

    by_segment: dict[int, list[list[int]]] = {}
    for run in todo:
        by_segment.setdefault(run.segment, []).append([run.start, run.stop])
    items = [{"segment": pickle.dumps(segments[i]), "runs": runs} for i, runs in by_segment.items()]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    ds = ds.flat_map(functools.partial(decode_runs, uri=config.input, depth=depth), num_cpus=0.25)
    ds = ds.map_batches(
        UpscaleEncode,
        fn_constructor_kwargs={
            "upscale": config.upscale,
            "settings": settings,
            "source": info.video,
            "work": work,
            "micro_batch": config.micro_batch,
            "threads": replica_threads(config.replicas),
        },
        batch_size=1,
        **replica_pool_args(config.replicas),
        max_task_retries=config.max_chunk_retries,
    )
    chunks = []
    for row in ds.iter_rows():
        chunk = Chunk(str(row["chunk_uri"]), int(row["first_frame_index"]), int(row["frame_count"]))
        chunks.append(chunk)
        progress.update(chunk.frame_count)
    return chunks


def _verify(output: str, source: MediaInfo) -> None:
    """Read the written output back: it must hold every source frame."""
    written = probe(output)
    if written.video.frame_count != source.video.frame_count:
        raise FrameAccountingError(
            f"{output} holds {written.video.frame_count} frames, expected "
            f"{source.video.frame_count}"
        )


def _remove(work: str) -> None:
    fs, path = storage.filesystem(work)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    parent = path.rsplit("/", 1)[0]
    try:
        if fs.exists(parent) and not fs.ls(parent):
            fs.rm(parent, recursive=True)
    except (FileNotFoundError, OSError):
        pass  # someone else's work may live there; leaving an empty folder is harmless
