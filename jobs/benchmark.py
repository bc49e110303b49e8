"""Benchmark on this machine: ``python -m jobs.benchmark [--section forward,pipeline] ...``.

Every figure is a ratio measured side by side in one run; the sections are described in
``benchmarks/__init__.py``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from benchmarks import run
from benchmarks.config import BenchmarkConfig
from rayapp.arguments import add_config_arguments, config_from_arguments, job_parser
from rayapp.entrypoint import run_entry_point


def parse_args(argv: Sequence[str] | None = None) -> BenchmarkConfig:
    p = job_parser("jobs.benchmark", __doc__)
    add_config_arguments(p, BenchmarkConfig)
    return config_from_arguments(BenchmarkConfig, p.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    return run_entry_point("benchmark", lambda: run(parse_args(argv)) or 0)


if __name__ == "__main__":
    sys.exit(main())
