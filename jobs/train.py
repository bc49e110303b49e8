"""Fine-tune a model on your own footage, on a Ray cluster (Ray Train).

    python -m jobs.train --videos s3://b/series/ --model realesr-animevideov3 \\
        --steps 2000 --batch-size 8 --patch 128 --workers 2 --output s3://b/finetune/

Frames are streamed from the videos (the video job's decode path, no frame written to
disk), cut into random patches and degraded (blur, resize, noise, JPEG or H.264, seeded)
into the low-resolution inputs; the model learns to undo that on your footage. Held-out
frames (--val-videos, else each video's last keyframe segment) are measured every
--checkpoint-every steps, when a checkpoint is written under --output:
<output>/train/checkpoint_*/step-N.safetensors, usable as --model anywhere. Started again
on the same --output, the job resumes from its latest checkpoint.

Unless given, --cpus-per-worker and --data-cpus are derived from the cluster's CPUs: the
workers share half of them (a GPU worker takes 1 at most), each worker's data tasks the
rest. Workers that would leave the data path no CPU are refused before any starts, naming
flags that fit. A step that waits --data-timeout-s for its batch ends the job. It prints a
start line, a line per checkpoint and the result; the rest stays in Ray's logs. Exit 0
when the last step is done, 2 for a bad option or input or a request the cluster cannot
fit (one line on stderr), 1 when training failed (a starved data path included).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rayapp.arguments import add_config_arguments, config_from_arguments, job_parser
from rayapp.entrypoint import run_job
from rayapp.train import TrainJobConfig

# Degradation ranges stay the config's (Real-ESRGAN's): pairs of ranges make poor flags.
_RANGES = ("blur_sigma", "blur_prob", "resize", "gaussian_noise", "poisson_scale",
           "jpeg_quality", "video_crf")  # fmt: skip


def parse_args(argv: Sequence[str] | None = None) -> TrainJobConfig:
    p = job_parser("jobs.train", __doc__)
    add_config_arguments(p, TrainJobConfig, exclude=_RANGES)
    return config_from_arguments(TrainJobConfig, p.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("train", lambda: _run(argv))


def _run(argv: Sequence[str] | None) -> int:
    config = parse_args(argv)  # before the heavy imports: a bad option fails fast
    from rayapp.train import run_training

    result = run_training(config)
    for uri, why in result.skipped:
        print(f"skipped: {uri}: {why}", file=sys.stderr)
    last = result.metrics[-1] if result.metrics else {}
    print(
        f"trained {config.model} to step {result.steps} (from {result.resumed_from}) in "
        f"{result.elapsed_s:.1f} s: val PSNR {last.get('val_psnr', float('nan')):.2f} dB; "
        f"checkpoint {result.checkpoint}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
