"""The benchmark's ``archive`` section: an archive of short clips as one job, against the same
command run on each clip (each its own process and embedded Ray, as a user's loop runs
it) and against one clip of the archive's total frames; and the archive job's driver
memory and object-store peak as the archive grows.

1. ``archive_clips`` sample clips of ``archive_seconds`` (``--size``, default 160x120), each
   a whole ``python -m jobs.upscale_video`` command with the ``model``: the archive
   (``--input dir/``), one command per clip, and one clip of all their frames in turn.
2. 20 and 200 tiny clips (0.25 s, 160x120: a run of them is 345 KB, in the object store,
   not inlined; the nearest-neighbour test upscaler) through the Ray runner in a fresh
   process: the driver's peak RSS and the object store's peak, polled.

    python -m jobs.benchmark --section archive
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.config import BenchmarkConfig
from benchmarks.table import table

__all__ = ["section_archive"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _timed(command: list[str]) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own Ray
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:6]} failed: {done.stderr.strip()[-2000:]}")
    return time.perf_counter() - started, done.stdout


def _job(src: str, out: str, cfg: BenchmarkConfig) -> list[str]:
    return [sys.executable, "-m", "jobs.upscale_video", "--input", src, "--output", out,
            "--model", cfg.model]  # fmt: skip


def _speed_rows(cfg: BenchmarkConfig, tmp: str) -> list[list[str]]:
    from rayapp.sample import make_sample_video

    size = cfg.size_wh((160, 120))
    clips = [
        make_sample_video(f"{tmp}/in/{k % 2}/clip{k:03d}.mp4", seconds=cfg.archive_seconds,
                          size=size)
        for k in range(cfg.archive_clips)
    ]  # fmt: skip
    long = _joined(clips, f"{tmp}/long.mp4")
    archive_s, _ = _timed(_job(f"{tmp}/in/", f"{tmp}/out/", cfg))
    separate_s = sum(_timed(_job(c, f"{tmp}/one/{k}.mp4", cfg))[0] for k, c in enumerate(clips))
    long_s, _ = _timed(_job(long, f"{tmp}/long-out.mp4", cfg))
    frames = round(cfg.archive_clips * cfg.archive_seconds * 24)
    return [
        [name, f"{wall:.1f}", f"{frames / wall:.2f}", f"{wall / archive_s:.2f}"]
        for name, wall in (
            (f"archive job, {cfg.archive_clips} clips", archive_s),
            (f"{cfg.archive_clips} jobs, one a clip", separate_s),
            (f"one clip of {cfg.archive_clips * cfg.archive_seconds:g} s", long_s),
        )
    ]


def _joined(clips: list[str], out: str) -> str:
    """The clips one after another in one file (their frames and sound re-encoded as the
    sample clips are): the same frames as the archive, where a longer sample clip would
    move slower and repeat more frames."""
    from fractions import Fraction

    import av

    with av.open(clips[0]) as first:
        fps, rate = first.streams.video[0].average_rate, first.streams.audio[0].rate
        size = first.streams.video[0].width, first.streams.video[0].height
    with av.open(out, "w") as dst:
        video = dst.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        video.time_base = video.codec_context.time_base = Fraction(1, int(fps))
        video.codec_context.options = {
            "crf": "18", "preset": "veryfast",
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0",
        }  # fmt: skip
        audio = dst.add_stream("aac", rate=rate, layout="stereo")
        count = samples = 0
        for clip in clips:
            with av.open(clip) as src:
                for frame in src.decode(video=0):
                    image = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"))
                    image = image.reformat(format="yuv420p")
                    image.pts, count = count, count + 1
                    dst.mux(video.encode(image))
            with av.open(clip) as src:
                for sound in src.decode(audio=0):
                    sound.pts, samples = samples, samples + sound.samples
                    dst.mux(audio.encode(sound))
        dst.mux(video.encode())
        dst.mux(audio.encode())
    return out


_MEMORY_RUN = """
import json, resource, sys, threading, time
import ray
from rayapp.pipeline.cluster.ray_internals import object_store_bytes
from rayapp.config import ReplicaConfig, VideoJobConfig
from rayapp.pipeline import ensure_ray, run_archive_job
from rayapp.testing import NearestUpscaler

ensure_ray()
peak = [0.0]
done = threading.Event()

def poll():
    while not done.wait(0.2):
        used, _ = object_store_bytes(ray.get_runtime_context().gcs_address)
        peak[0] = max(peak[0], used / 2**20)

threading.Thread(target=poll, daemon=True).start()
started = time.perf_counter()
config = VideoJobConfig(input=sys.argv[1], output=sys.argv[2], replicas=ReplicaConfig(
    min_replicas=1, max_replicas=1, num_cpus_per_replica=0.5))
result = run_archive_job(config, upscaler=NearestUpscaler(2), progress=())
done.set()
print(json.dumps({"videos": len(result.rows), "seconds": time.perf_counter() - started,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "store_mib": peak[0]}))
"""


def _memory_rows(tmp: str) -> list[list[str]]:
    from rayapp.testing import make_test_video

    rows = []
    for count in (20, 200):
        for k in range(count):
            make_test_video(
                f"{tmp}/tiny{count}/{k % 10}/c{k:03d}.mp4", frames=6, width=160, height=120
            )
        _, out = _timed([sys.executable, "-c", _MEMORY_RUN, f"{tmp}/tiny{count}/",
                         f"{tmp}/tiny{count}-out/"])  # fmt: skip
        m = json.loads(out.strip().splitlines()[-1])
        rows.append([str(m["videos"]), f"{m['seconds']:.1f}", f"{m['rss_mib']:.0f}",
                     f"{m['store_mib']:.0f}"])  # fmt: skip
    return rows


def section_archive(cfg: BenchmarkConfig) -> str:
    with tempfile.TemporaryDirectory(prefix="rb-archive-") as tmp:
        speed = _speed_rows(cfg, tmp)
        memory = _memory_rows(tmp)
    w, h = cfg.size_wh((160, 120))
    return "\n".join(
        [
            f"== archive: {cfg.archive_clips} clips of {cfg.archive_seconds:g} s ({w}x{h}, "
            f"{cfg.model}), whole commands, each its own embedded Ray",
            table(["run", "wall s", "frames/s", "x the archive job's time"], speed),
            "== archive: tiny clips (0.25 s, 160x120, nearest x2) on the Ray runner: the "
            "driver's peak RSS and the object store's peak",
            table(["videos", "wall s", "driver RSS MiB", "object store peak MiB"], memory),
        ]
    )
