"""The report of the benchmark's ``pipeline`` section: ``TimedRun`` (one timed video job) and
the tables made from the runs: speed, where the time goes, peak memory, temporary disk."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.config import BenchmarkConfig
from benchmarks.sampler import PhasePeaks
from benchmarks.table import table
from rayapp.pipeline import ChunkRecord, VideoJobResult

MIB = 1024 * 1024


@dataclass
class TimedRun:
    """One timed run of a whole video job (the Ray runner, or the local one)."""

    name: str
    result: VideoJobResult
    wall_s: float  # the job call
    output_bytes: int
    peaks: PhasePeaks
    points: list[tuple[float, int]]  # (s since the job call, frames done) per progress event
    local: bool = False

    @property
    def frames(self) -> int:
        return self.result.frames

    @property
    def chunks(self) -> list[ChunkRecord]:
        """The chunks this run made (not reused), with the replicas' timings."""
        return [c for c in self.result.chunks if not c.reused]

    @property
    def model_s(self) -> float:
        return sum(c.model_s for c in self.chunks)


def window_fps(chunks: Sequence[ChunkRecord]) -> tuple[float, int, float]:
    """(fps, frames, span_s) of the chunks made, over the time from the first frame into a
    replica to the last chunk out: the pipeline at work, its start-up and assembly left out."""
    frames = sum(c.frame_count for c in chunks)
    span = max(c.finished_at for c in chunks) - min(c.started_at for c in chunks)
    return frames / span, frames, span


def pipeline_report(
    cfg: BenchmarkConfig,
    size: tuple[int, int],
    total_threads: int,
    ray_init_s: float,
    bare_by_label: dict[str, list[list[float]]],
    runs: list[TimedRun],
    idle: PhasePeaks,
) -> str:
    bare = next(iter(bare_by_label.values()))
    speed = _speed_rows(bare_by_label, runs, ray_init_s)
    timeline = [_timeline_row(r, ray_init_s) for r in runs if not r.local]
    memory = _memory_rows(idle, runs)
    disk = [_disk_row(r) for r in runs]
    rep = f"{cfg.min_replicas}-{cfg.max_replicas}"
    w, h = size
    return "\n".join(
        [
            f"== pipeline: {cfg.model} x{cfg.outscale:g}, {w}x{h} @ {cfg.fps} fps, clips "
            f"{cfg.seconds:g} s and {cfg.seconds * cfg.long:g} s, segment_s {cfg.segment_s:g}, "
            f"chunk_frames {cfg.chunk_frames}; Ray num_cpus {cfg.threads}, replicas {rep} x "
            f"{max(1, cfg.threads // cfg.max_replicas)} torch thread(s)",
            f"   bare = Upscaler.upscale_batch, 1 frame at a time, in this process with "
            f"{total_threads} torch threads (= the replicas' total; 'vs bare' is against it), with "
            "one replica's, and in an idle Ray actor with one replica's; "
            f"{len(bare[0])} decoded frames of the short clip x 3 passes (before, between and "
            "after the jobs); the local runner uses this process's upscaler",
            table(["run", "frames", "wall s", "fps", "vs bare", "what"], speed),
            "",
            "   where the time goes (s from the job call; the chunks' own timings in the result)",
            table(TIMELINE_HEADER, timeline),
            "",
            "   peak memory (MiB, RSS sampled every 0.2 s; ray procs = every process under this "
            "driver; store = object store bytes in use)",
            table(
                ["run", "driver", "ray procs", "max worker", "max replica", "store", "spilled"],
                memory,
            ),
            "",
            "   temporary disk (KiB peak, polled every 0.2 s; work = the job's work prefix, "
            "spill = Ray's spill dir)",
            table(["run", "output", "work peak", "work/output", "spill peak", "files seen"], disk),
        ]
    )


def _row(
    name: str, frames: int, wall_s: float, fps: float, bare_fps: float, what: str
) -> list[str]:
    return [name, str(frames), f"{wall_s:.1f}", f"{fps:.2f}", f"{fps / bare_fps:.2f}", what]


def _speed_rows(
    bare_by_label: dict[str, list[list[float]]],
    runs: list[TimedRun],
    ray_init_s: float,
) -> list[list[str]]:
    fps_of = {
        k: 1 / statistics.median(x for p in passes for x in p)
        for k, passes in bare_by_label.items()
    }
    bare_fps = next(iter(fps_of.values()))
    rows = []
    for label, passes in bare_by_label.items():
        each = "/".join(f"{statistics.median(p):.3f}" for p in passes)
        frames, wall = sum(map(len, passes)), sum(map(sum, passes))
        what = f"median s/frame per pass {each}"
        rows.append(_row(label, frames, wall, fps_of[label], bare_fps, what))
    for r in runs:
        fps = r.frames / r.wall_s
        rows.append(_row(f"{r.name}: end to end", r.frames, r.wall_s, fps, bare_fps, "job call"))
        if r.local:
            what = "time inside upscale_batch"
            rows.append(
                _row(f"{r.name}: model", r.frames, r.model_s, r.frames / r.model_s, bare_fps, what)
            )
            continue
        wall = r.wall_s + ray_init_s
        what = "job call + ray.init (once per process)"
        rows.append(_row(f"{r.name}: + ray.init", r.frames, wall, r.frames / wall, bare_fps, what))
        rows += _replica_rows(r, bare_fps)
    return rows


def _memory_rows(idle: PhasePeaks, runs: list[TimedRun]) -> list[list[str]]:
    keys = ("driver_rss", "ray_rss", "worker_rss", "replica_rss")
    rows = [
        [name, *(f"{getattr(p, k) / MIB:.0f}" for k in keys), f"{p.store_used / MIB:.2f}",
         f"{p.spilled / MIB:.2f}"]
        for name, p in [("idle cluster", idle), *((r.name, r.peaks) for r in runs)]
    ]  # fmt: skip
    short, long = runs[0].peaks, runs[-1].peaks
    ratios = [_ratio(getattr(long, k), getattr(short, k)) for k in (*keys, "store_used")]
    return [*rows, ["long/short", *ratios, "-"]]


def _disk_row(r: TimedRun) -> list[str]:
    work, spill = r.peaks.dirs.get("work", 0), r.peaks.dirs.get("spill", 0)
    return [
        r.name, f"{r.output_bytes / 1024:.0f}", f"{work / 1024:.0f}",
        f"{work / r.output_bytes:.2f}", f"{spill / 1024:.0f}",
        ",".join(sorted(r.peaks.suffixes)) or "-",
    ]  # fmt: skip


TIMELINE_HEADER = [
    "run", "ray.init", "replica up", "1st chunk in", "1st chunk out", "last chunk out",
    "rows at driver", "tail", "replicas", "concurrency", "chunk s/frame", "model s/frame",
    "encode+io",
]  # fmt: skip


def _replica_rows(r: TimedRun, bare_fps: float) -> list[list[str]]:
    n = len({c.replica for c in r.chunks})
    chunk_s = sum(c.elapsed_s for c in r.chunks)
    rows = []
    fps, frames, span = window_fps(r.chunks)
    rows.append(
        [f"{r.name}: at work", str(frames), f"{span:.1f}", f"{fps:.2f}",
         f"{fps / bare_fps:.2f}", "first frame into a replica to the last chunk out"]
    )  # fmt: skip
    for label, total, what in (
        ("replicas busy", chunk_s, "chunk elapsed_s"),
        ("replicas model", r.model_s, "upscale_batch in replicas"),
    ):
        fps = n * r.frames / total
        rows.append(
            [f"{r.name}: {label}", str(r.frames), f"{total:.1f}", f"{fps:.2f}",
             f"{fps / bare_fps:.2f}", f"{n} x frames / sum of {what}"]
        )  # fmt: skip
    return rows


def _timeline_row(r: TimedRun, ray_init_s: float) -> list[str]:
    """Seconds since the job call; the chunks carry wall-clock times."""
    t0, chunks = r.result.started_at, r.chunks
    up = f"{min(c.replica_ready_at for c in chunks) - t0:.1f}"
    n = len({c.replica for c in chunks})
    chunk_s = sum(c.elapsed_s for c in chunks)
    model_s = r.model_s
    first_in = min(c.started_at for c in chunks) - t0
    first_out = min(c.finished_at for c in chunks) - t0
    last_out = max(c.finished_at for c in chunks) - t0
    at_driver = r.points[-1][0]
    return [
        r.name, f"{ray_init_s:.1f}", up, f"{first_in:.1f}", f"{first_out:.1f}",
        f"{last_out:.1f}", f"{at_driver:.1f}", f"{r.wall_s - at_driver:.1f}", str(n),
        f"{chunk_s / (last_out - first_in):.2f}", f"{chunk_s / r.frames:.3f}",
        f"{model_s / r.frames:.3f}", f"{100 * (1 - model_s / chunk_s):.0f}%",
    ]  # fmt: skip


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"
