"""The benchmark's ``encode`` section: what this machine's CPUs can encode, and how close
the video job comes to it when the model costs the CPUs nothing (a GPU's case).

1. Encoder capacity: frames/s of the job's chunk encoder (RGB in, colour conversion
   included) on real upscaled frames at 1920x1080 and 2560x1920, per codec and preset: one
   encoder with every thread (x264's slice threads, PyAV's default, and frame threads)
   against one single-threaded encoder per CPU side by side (what a GPU replica runs).
2. The job with a simulated GPU (``rayapp.testing.SimulatedGpuUpscaler``: a forward that
   waits 5 ms a frame off the CPU, nearest-neighbour frames) on a 640x480 clip x4 to
   2560x1920, libx264 ``--preset medium --crf 18``, each a whole command in a fresh process
   (start-up included): the Ray job (the Ray core runner, and the Ray Data formulations of
   the same stages: ``ray-data``, encoding in CPU tasks; ``ray-data-fused``, encoding in the
   replicas) and the local runner against ffmpeg decoding, scaling and encoding the same
   clip with the same settings on every CPU (the ``ffmpeg`` command where there is one, and
   the same FFmpeg libraries driven through PyAV). In rounds (``encode_rounds``), every
   command once a round, in turn; ratios pair by pair within a round, their median shown.
3. The three Ray runners with the model on the CPU (realesr-animevideov3 x4, a 2 s 160x120
   clip): what each adds where the model binds.

    python -m jobs.benchmark --section encode
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from functools import partial

import numpy as np

from benchmarks.config import BenchmarkConfig
from benchmarks.rounds import each, in_rounds, median_ratio
from benchmarks.table import table
from rayapp.config import VideoJobConfig
from rayapp.video import ChunkEncoder, EncodeSettings, probe

__all__ = ["section_encode", "side_by_side_fps"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = ((1920, 1080), (2560, 1920))
CODECS = (("libx264", "medium"), ("libx264", "veryfast"), ("libx265", "medium"),
          ("libsvtav1", "8"))  # fmt: skip


def _frames(clip: str, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """``count`` frames of ``clip`` resized to ``size`` (w, h): upscaled content."""
    import av

    from rayapp.resize import resize_image
    from rayapp.video import to_rgb

    with av.open(clip) as container:
        decoded = [to_rgb(f) for f in container.decode(video=0)][:count]
    return [resize_image(f, (size[1], size[0])) for f in decoded]


def _encode(
    frames: Sequence[np.ndarray], clip: str, codec: str, preset: str, threads: int, kind: str
) -> None:
    source = probe(clip).video
    h, w = frames[0].shape[:2]
    settings = EncodeSettings(codec=codec, preset=preset)
    step = source.frame_pts[1] - source.frame_pts[0]
    uri = f"memory://rb-encode/{threading.get_ident()}.mp4"
    with ChunkEncoder(
        uri, source, height=h, width=w, settings=settings, threads=threads,
        thread_type=kind or None,
    ) as enc:  # fmt: skip
        for i, image in enumerate(frames):
            enc.write(image, frame_index=i, pts=i * step)


def _encoders_fps(
    frames: list[np.ndarray], clip: str, codec: str, preset: str, threads: int, kind: str,
    encoders: int,
) -> float:  # fmt: skip
    """Frames/s of ``encoders`` encoders side by side, each with ``threads`` threads."""
    started = time.perf_counter()
    workers = [
        threading.Thread(target=_encode, args=(frames, clip, codec, preset, threads, kind))
        for _ in range(encoders)
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return encoders * len(frames) / (time.perf_counter() - started)


def side_by_side_fps(
    clip: str, images: list[np.ndarray], codec: str, preset: str, encoders: int
) -> float:
    """Frames/s of ``encoders`` single-threaded encoders side by side, each on ``images``
    (the upscaled frames of ``clip``): what a GPU node's replicas encode."""
    return _encoders_fps(images, clip, codec, preset, 1, "", encoders)


def _capacity(frames: list[np.ndarray], clip: str, codec: str, preset: str) -> list[str]:
    cpus = os.cpu_count() or 1
    return [
        f"{_encoders_fps(frames, clip, codec, preset, threads, kind, count):.2f}"
        for threads, kind, count in ((cpus, "SLICE", 1), (cpus, "FRAME", 1), (1, "", cpus))
    ]


def _pyav_ffmpeg(clip: str, out: str, size: tuple[int, int]) -> None:
    """ffmpeg's own work through PyAV: decode, scale (nearest), libx264 medium crf 18 with
    FFmpeg's default threads (frame threads on every CPU), audio copied."""
    import av

    with av.open(clip) as src, av.open(out, "w") as dst:
        vin, ain = src.streams.video[0], src.streams.audio[0]
        vin.thread_type = "AUTO"
        vout = dst.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = size[0], size[1], "yuv420p"
        vout.codec_context.thread_type = "FRAME"
        vout.codec_context.thread_count = 0
        vout.codec_context.options = {"preset": "medium", "crf": "18"}
        aout = dst.add_stream_from_template(ain)
        for packet in src.demux(vin, ain):
            if packet.stream is ain:
                if packet.dts is not None:
                    packet.stream = aout
                    dst.mux(packet)
                continue
            for frame in packet.decode():
                scaled = frame.reformat(size[0], size[1], "yuv420p", interpolation="POINT")
                # As ffmpeg does: x264 picks each frame's type (a decoded frame says the
                # source's, which x264 would obey: every frame a P-frame, no B-frames).
                scaled.pict_type = av.video.frame.PictureType.NONE
                dst.mux(vout.encode(scaled))
        dst.mux(vout.encode(None))


RUNNERS = ("ray", "ray-data", "ray-data-fused", "local")
JOB_HEADER = ["run", "wall s", "each round", "frames/s", "vs ffmpeg", "vs ffmpeg in RGB",
              "vs ray runner"]  # fmt: skip


def _job_rows(cfg: BenchmarkConfig, tmp: str) -> list[list[str]]:
    from rayapp.sample import make_sample_video

    clip = make_sample_video(f"{tmp}/job.mp4", seconds=cfg.encode_seconds, size=(640, 480))
    size = (2560, 1920)
    commands: dict[str, list[str]] = {}
    if shutil.which("ffmpeg"):
        # As the baseline: scaled on 4:2:0 planes (its chroma stays blocky); and
        # scaled in RGB, as a model's output is (full chroma: more to encode).
        for name, chain in (("ffmpeg command", ""), ("ffmpeg command, scaled in RGB", "rgb")):
            scale = f"scale={size[0]}:{size[1]}:flags=neighbor"
            vf = f"format=rgb24,{scale},format=yuv420p" if chain else scale
            commands[name] = [
                "ffmpeg", "-v", "error", "-y", "-i", clip, "-vf", vf, "-c:v", "libx264",
                "-preset", "medium", "-crf", "18", "-c:a", "copy", f"{tmp}/ffmpeg{chain}.mp4",
            ]  # fmt: skip
    commands["ffmpeg libraries (PyAV)"] = _command("pyav", "sim", clip, f"{tmp}/pyav.mp4")
    for runner in RUNNERS:
        commands[f"job, {runner} runner"] = _command(runner, "sim", clip, f"{tmp}/{runner}.mp4")
    walls = _walls(commands, cfg.encode_rounds, "encode, simulated GPU")
    frames = probe(clip).video.frame_count
    plain = walls.get("ffmpeg command", walls["ffmpeg libraries (PyAV)"])
    rgb = walls.get("ffmpeg command, scaled in RGB", plain)
    core = walls["job, ray runner"]
    return [
        [name, f"{statistics.median(wall):.1f}", each(wall),
         f"{frames / statistics.median(wall):.2f}", f"{median_ratio(plain, wall):.2f}",
         f"{median_ratio(rgb, wall):.2f}",
         f"{median_ratio(core, wall):.2f}" if name.startswith("job") else ""]
        for name, wall in walls.items()
    ]  # fmt: skip


def _cpu_model_rows(cfg: BenchmarkConfig, tmp: str) -> list[list[str]]:
    """The Ray runners with the real model on the CPU (realesr-animevideov3 x4), a 2 s
    160x120 clip, whole commands: the model binds, so this is what each runner adds."""
    from rayapp.sample import make_sample_video

    clip = make_sample_video(f"{tmp}/cpu.mp4", seconds=2, size=(160, 120))
    commands = {r: _command(r, "cpu", clip, f"{tmp}/cpu-{r}.mp4") for r in RUNNERS[:3]}
    walls = _walls(commands, cfg.encode_rounds, "encode, model on the CPU")
    frames = probe(clip).video.frame_count
    return [
        [f"job, {r} runner", f"{statistics.median(wall):.1f}", each(wall),
         f"{frames / statistics.median(wall):.2f}", f"{median_ratio(walls['ray'], wall):.2f}"]
        for r, wall in walls.items()
    ]  # fmt: skip


def _walls(commands: dict[str, list[str]], rounds: int, tag: str) -> dict[str, list[float]]:
    """Each command's wall seconds in every round, the commands in turn."""
    return in_rounds({name: partial(_timed, c) for name, c in commands.items()}, rounds, tag)


def _command(how: str, model: str, clip: str, out: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.encode", how, model, clip, out]


def _timed(command: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own Ray
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:5]} failed: {done.stderr.strip()[-2000:]}")
    return time.perf_counter() - started


def section_encode(cfg: BenchmarkConfig) -> str:
    from rayapp.sample import make_sample_video

    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="rb-encode-") as tmp:
        clip = make_sample_video(f"{tmp}/clip.mp4", seconds=2, size=(640, 480))
        rows = []
        for w, h in SIZES:
            frames = _frames(clip, (w, h), cfg.encode_frames)
            for codec, preset in CODECS:
                rows.append(
                    [f"{w}x{h}", f"{codec} {preset}", *_capacity(frames, clip, codec, preset)]
                )
                print(f"encode: {rows[-1]}", file=sys.stderr, flush=True)
        job = _job_rows(cfg, tmp)
        cpu = _cpu_model_rows(cfg, tmp)
    return "\n".join(
        [
            f"== encode: frames/s of the chunk encoder (RGB in) on {cfg.encode_frames} "
            f"upscaled frames, {cpus} CPUs",
            table(
                [
                    "size",
                    "codec preset",
                    f"1 x {cpus} slice",
                    f"1 x {cpus} frame",
                    f"{cpus} x 1 side by side",
                ],
                rows,
            ),  # fmt: skip
            f"== encode: a {cfg.encode_seconds:g} s 640x480 clip x4 to 2560x1920, libx264 "
            "medium crf 18; the job's model a simulated GPU (5 ms a frame, off the CPU); "
            f"whole commands, start-up included, {cfg.encode_rounds} rounds in turn (the "
            "median wall, each round's, and the median of the rounds' ratios)",
            table(JOB_HEADER, job),
            "== encode: the Ray runners with the model on the CPU (realesr-animevideov3 x4), "
            f"a 2 s 160x120 clip, whole commands, {cfg.encode_rounds} rounds in turn",
            table(["run", "wall s", "each round", "frames/s", "vs ray runner"], cpu),
        ]
    )


def _main(argv: Sequence[str]) -> None:
    """``python -m benchmarks.encode pyav|RUNNER sim|cpu CLIP OUT``: one run of part 2
    (``sim``: the simulated GPU; ``cpu``: the model on the CPU)."""
    how, model, clip, out = argv
    if how == "pyav":
        _pyav_ffmpeg(clip, out, (2560, 1920))
        return
    from rayapp.pipeline import run_video_job
    from rayapp.testing import SimulatedGpuUpscaler

    if model == "sim":
        # One replica per (simulated) GPU, holding a quarter CPU as a GPU replica needs; its
        # encoders from the node's CPUs.
        config = VideoJobConfig(
            input=clip, output=out, codec="libx264", preset="medium", crf=18,
            replicas={"min_replicas": 1, "max_replicas": 1, "num_cpus_per_replica": 0.25},
        )  # fmt: skip
        upscaler = SimulatedGpuUpscaler(scale=4, frame_s=0.005)
    else:
        config = VideoJobConfig(input=clip, output=out, codec="libx264", crf=18)
        upscaler = None
    result = run_video_job(config, runner=how, progress=(), upscaler=upscaler)
    print(result.describe())


if __name__ == "__main__":
    _main(sys.argv[1:])
