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
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig

log = logging.getLogger("jobs.upscale_video")


def parse_args(argv: Sequence[str] | None = None) -> VideoJobConfig:
    f = VideoJobConfig.model_fields
    r = ReplicaConfig.model_fields
    u = UpscaleConfig.model_fields
    p = argparse.ArgumentParser(prog="python -m jobs.upscale_video", description=__doc__)
    p.add_argument("--input", required=True, help=f["input"].description)
    p.add_argument("--output", required=True, help=f["output"].description)
    p.add_argument("--model", default=u["model"].default, help=u["model"].description)
    p.add_argument("--weights", help=u["weights"].description)
    p.add_argument("--outscale", type=float, help=u["outscale"].description)
    p.add_argument("--tile", type=int, default=0, help=u["tile"].description)
    p.add_argument("--device", default="auto", help=u["device"].description)
    p.add_argument("--precision", default="auto", help=u["precision"].description)
    p.add_argument("--compile", action="store_true", help=u["compile"].description)
    p.add_argument("--codec", default=f["codec"].default, help=f["codec"].description)
    p.add_argument("--crf", type=int, help=f["crf"].description)
    p.add_argument("--preset", help=f["preset"].description)
    p.add_argument(
        "--segment-s", type=float, default=f["segment_s"].default, help=f["segment_s"].description
    )
    p.add_argument(
        "--chunk-frames",
        type=int,
        default=f["chunk_frames"].default,
        help=f["chunk_frames"].description,
    )
    p.add_argument(
        "--num-gpus-per-replica",
        type=float,
        default=r["num_gpus_per_replica"].default,
        help=r["num_gpus_per_replica"].description,
    )
    p.add_argument(
        "--num-cpus-per-replica",
        type=float,
        default=r["num_cpus_per_replica"].default,
        help=r["num_cpus_per_replica"].description,
    )
    p.add_argument(
        "--min-replicas",
        type=int,
        default=r["min_replicas"].default,
        help=r["min_replicas"].description,
    )
    p.add_argument(
        "--max-replicas",
        type=int,
        default=r["max_replicas"].default,
        help=r["max_replicas"].description,
    )
    p.add_argument("--work", help=f["work"].description)
    p.add_argument("--keep-work", action="store_true", help=f["keep_work"].description)
    a = p.parse_args(argv)
    return VideoJobConfig(
        input=a.input,
        output=a.output,
        codec=a.codec,
        crf=a.crf,
        preset=a.preset,
        segment_s=a.segment_s,
        chunk_frames=a.chunk_frames,
        work=a.work,
        keep_work=a.keep_work,
        upscale=UpscaleConfig(
            model=a.model,
            weights=a.weights,
            outscale=a.outscale,
            tile=a.tile,
            device=a.device,
            precision=a.precision,
            compile=a.compile,
        ),
        replicas=ReplicaConfig(
            min_replicas=min(a.min_replicas, a.max_replicas),
            max_replicas=a.max_replicas,
            num_gpus_per_replica=a.num_gpus_per_replica,
            num_cpus_per_replica=a.num_cpus_per_replica,
        ),
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
