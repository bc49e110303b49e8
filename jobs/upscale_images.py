"""Upscale every image under a prefix on a Ray cluster.

    python -m jobs.upscale_images --input s3://b/lowres/ --output s3://b/hires/ \\
        --model realesr-animevideov3 --outscale 2

Each image goes to the same relative name under the output prefix; outputs that already
exist are skipped, so a rerun finishes what is left. Exit 0 when no image failed, 1 when some
did (each listed on stderr), 2 for a bad option or input (one line on stderr).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rayapp.arguments import add_config_arguments, config_from_arguments, job_parser
from rayapp.config import ImagesJobConfig
from rayapp.entrypoint import run_job
from rayapp.errors import EXIT_FAILED


def parse_args(argv: Sequence[str] | None = None) -> ImagesJobConfig:
    p = job_parser("jobs.upscale_images", __doc__)
    add_config_arguments(p, ImagesJobConfig)
    return config_from_arguments(ImagesJobConfig, p.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("upscale_images", lambda: _run(argv))


def _run(argv: Sequence[str] | None) -> int:
    config = parse_args(argv)  # before the heavy imports: a bad option fails fast
    from rayapp.pipeline import run_images_job

    report = run_images_job(config)
    print(f"{report.summary()} in {report.elapsed_s:.1f} s", flush=True)
    for failed in report.failed:
        print(f"failed: {failed.uri}: {failed.error}", file=sys.stderr)
    return EXIT_FAILED if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
