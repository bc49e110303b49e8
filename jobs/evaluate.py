"""Would storing a small copy and upscaling it on read be good enough for this content?

    python -m jobs.evaluate --input s3://b/originals/ --output s3://b/evaluation/ \\
        --scales 2,4 --models realesr-animevideov3,bicubic

Every image under the input prefix, at each scale, through each model: downscaled
(antialiased), stored in the output format under <output>/small/x<scale>/, upscaled back to
exactly its original size and measured against the original (PSNR, SSIM, MS-SSIM on RGB and
luma), with the bytes of both. Writes <output>/evaluation.csv (one row per image x scale x
model) and <output>/evaluation.html (quality against storage saved, and a summary table).
'bicubic' is the baseline: plain resizing. Exit 0 when every row was measured, 1 when some
failed (each listed on stderr), 2 for a bad option or input (one line on stderr).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rayapp.arguments import add_config_arguments, config_from_arguments, job_parser
from rayapp.config import EvaluateJobConfig
from rayapp.entrypoint import run_job
from rayapp.errors import EXIT_FAILED

# The evaluation takes its models and factors from --models and --scales.
_NOT_OPTIONS = ("model", "weights", "outscale")


def parse_args(argv: Sequence[str] | None = None) -> EvaluateJobConfig:
    p = job_parser("jobs.evaluate", __doc__)
    add_config_arguments(p, EvaluateJobConfig, exclude=_NOT_OPTIONS)
    return config_from_arguments(EvaluateJobConfig, p.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("evaluate", lambda: _run(argv))


def _run(argv: Sequence[str] | None) -> int:
    config = parse_args(argv)  # before the heavy imports: a bad option fails fast
    from rayapp.pipeline import run_evaluation

    report = run_evaluation(config)
    print(report.table(), flush=True)
    print(f"{report.summary()} in {report.elapsed_s:.1f} s", flush=True)
    for name, error, rows in report.failures():
        print(f"failed: {name} ({rows} rows): {error}", file=sys.stderr)
    return EXIT_FAILED if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
