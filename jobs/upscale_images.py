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
from rayapp.arguments import (
    add_fields,
    add_replica_arguments,
    add_upscale_arguments,
    replica_config,
    upscale_config,
)
from rayapp.config import ImagesJobConfig

PROG = "python -m jobs.upscale_images"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not the whole usage
        self.exit(EXIT_USER_ERROR, f"upscale_images: error: {message}\n")


def parse_args(argv: Sequence[str] | None = None) -> ImagesJobConfig:
    p = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_fields(p, ImagesJobConfig, ("input", "output"))
    add_upscale_arguments(p)
    p.add_argument(
        "--format",
        choices=["same", "png", "jpeg", "webp"],
        default=ImagesJobConfig.model_fields["format"].default,
        help=ImagesJobConfig.model_fields["format"].description,
    )
    add_fields(p, ImagesJobConfig, ("max_pixels",))
    add_replica_arguments(p)
    a = p.parse_args(argv)
    return ImagesJobConfig(
        input=a.input,
        output=a.output,
        format=a.format,
        max_pixels=a.max_pixels,
        upscale=upscale_config(a),
        replicas=replica_config(a),
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
