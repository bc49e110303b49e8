"""Upscale one video on a Ray cluster.

    python -m jobs.upscale_video --input s3://b/in.mp4 --output s3://b/out.mp4 \\
        --model realesr-animevideov3

With ``ray job submit --working-dir . -- python -m jobs.upscale_video ...`` it runs on the
cluster ``RAY_ADDRESS`` names; run directly with no cluster, it starts a local Ray.
Exit code 0 only when the output was written and verified; a bad input or option is one
line on stderr and exit 2; a failure of the job itself is exit 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from jobs._common import run_job
from rayapp.arguments import (
    add_fields,
    add_replica_arguments,
    add_upscale_arguments,
    replica_config,
    upscale_config,
)
from rayapp.config import VideoJobConfig

log = logging.getLogger("jobs.upscale_video")


def parse_args(argv: Sequence[str] | None = None) -> VideoJobConfig:
    p = argparse.ArgumentParser(
        prog="python -m jobs.upscale_video",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_fields(p, VideoJobConfig, ("input", "output"))
    add_upscale_arguments(p)
    add_fields(p, VideoJobConfig, ("codec", "crf", "preset", "segment_s", "chunk_frames"))
    add_replica_arguments(p)
    add_fields(p, VideoJobConfig, ("work", "keep_work"))
    a = p.parse_args(argv)
    return VideoJobConfig(
        input=a.input,
        output=a.output,
        upscale=upscale_config(a),
        codec=a.codec,
        crf=a.crf,
        preset=a.preset,
        segment_s=a.segment_s,
        chunk_frames=a.chunk_frames,
        replicas=replica_config(a),
        work=a.work,
        keep_work=a.keep_work,
    )


def main(argv: Sequence[str] | None = None) -> int:
    def job() -> int:
        from rayapp.pipeline import run_video_job

        config = parse_args(argv)
        result = run_video_job(config)
        w, h = result.input_size
        ow, oh = result.output_size
        print(
            f"wrote {result.output_uri}: {result.frames} frames, {w}x{h} -> {ow}x{oh} "
            f"{result.video_codec}, {result.chunks_computed} chunks computed, "
            f"{result.chunks_reused} reused, {result.elapsed_s:.1f} s "
            f"({result.frames / max(result.elapsed_s, 1e-9):.2f} fps)",
            flush=True,
        )
        return 0

    return run_job("upscale_video", job)


if __name__ == "__main__":
    sys.exit(main())
