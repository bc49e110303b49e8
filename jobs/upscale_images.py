"""Upscale every image under a prefix on a Ray cluster.

    python -m jobs.upscale_images --input s3://b/lowres/ --output s3://b/hires/ \\
        --model realesr-animevideov3 --outscale 2

Each image goes to the same relative name under the output prefix; outputs that already
exist are skipped, so a rerun finishes what is left. Exit 0 when no image failed, 1 when some
did (each listed on stderr), 2 for a bad option or input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from jobs._common import EXIT_FAILED, EXIT_USER_ERROR, run_job
from rayapp.config import ImagesJobConfig, ReplicaConfig, UpscaleConfig

PROG = "python -m jobs.upscale_images"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not the whole usage
        self.exit(EXIT_USER_ERROR, f"upscale_images: error: {message}\n")


def parse_args(argv: Sequence[str] | None = None) -> ImagesJobConfig:
    f = ImagesJobConfig.model_fields
    r = ReplicaConfig.model_fields
    u = UpscaleConfig.model_fields
    p = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--input", required=True, help=f["input"].description)
    p.add_argument("--output", required=True, help=f["output"].description)
    p.add_argument("--model", default=u["model"].default, help=u["model"].description)
    p.add_argument("--weights", help=u["weights"].description)
    p.add_argument("--outscale", type=float, help=u["outscale"].description)
    p.add_argument("--tile", type=int, default=u["tile"].default, help=u["tile"].description)
    p.add_argument("--device", default=u["device"].default, help=u["device"].description)
    p.add_argument("--precision", default=u["precision"].default, help=u["precision"].description)
    p.add_argument(
        "--format",
        choices=["same", "png", "jpeg", "webp"],
        default=f["format"].default,
        help=f["format"].description,
    )
    p.add_argument(
        "--max-pixels", type=int, default=f["max_pixels"].default, help=f["max_pixels"].description
    )
    for name, kind in (
        ("min_replicas", int),
        ("max_replicas", int),
        ("num_gpus_per_replica", float),
        ("num_cpus_per_replica", float),
    ):
        flag = "--" + name.replace("_", "-")
        p.add_argument(flag, type=kind, default=r[name].default, help=r[name].description)
    a = p.parse_args(argv)
    return ImagesJobConfig(
        input=a.input,
        output=a.output,
        format=a.format,
        max_pixels=a.max_pixels,
        upscale=UpscaleConfig(
            model=a.model,
            weights=a.weights,
            outscale=a.outscale,
            tile=a.tile,
            device=a.device,
            precision=a.precision,
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
        config = parse_args(argv)  # before the heavy imports: a bad option fails fast
        from rayapp.pipeline import run_images_job

        report = run_images_job(config)
        print(f"{report.summary()} in {report.elapsed_s:.1f} s", flush=True)
        for failed in report.failed:
            print(f"failed: {failed.uri}: {failed.error}", file=sys.stderr)
        return EXIT_FAILED if report.failed else 0

    return run_job("upscale_images", job)


if __name__ == "__main__":
    sys.exit(main())
