"""The benchmark sections that ``python -m jobs.benchmark`` runs (like Ray's ``release/``:
apart from the entry points, using rayapp's public API only; nothing is patched).

- ``forward``: the bare network (``Upscaler.forward``): ours eager, compiled and bf16 next
  to the ncnn CPU run of the same model and this machine's matmul peak, interleaved in one
  process so background load hits every variant alike.
- ``pipeline``: the video job end to end on generated clips (a short one and one ``--long``
  times longer) on the Ray runner and the local runner, next to the bare model on the same
  decoded frames, with where the time goes (Ray start, replica start-up, first chunk, steady
  state, assembly), peak memory of the driver and of the Ray processes, the object store's
  peak, and the peak temporary disk against the output's size.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.config import BenchmarkConfig

__all__ = ["SECTIONS", "run"]


def _forward(cfg: BenchmarkConfig) -> str:
    from benchmarks.forward import section_forward

    return section_forward(cfg)


def _pipeline(cfg: BenchmarkConfig) -> str:
    from benchmarks.pipeline import section_pipeline

    return section_pipeline(cfg)


SECTIONS: dict[str, Callable[[BenchmarkConfig], str]] = {
    "forward": _forward,
    "pipeline": _pipeline,
}


def run(cfg: BenchmarkConfig) -> None:
    """Each section of ``cfg`` in order, its report printed as soon as it is done."""
    for section in cfg.section:
        print(SECTIONS[section](cfg), flush=True)
