"""Comparisons taken in rounds, in turn: each round runs every contender once, so that a
drift of the machine's speed (other load, its clock) hits all of them alike; a ratio is
taken pair by pair within a round, and the median of the rounds is the one reported."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Mapping

__all__ = ["in_rounds", "median_ratio", "each"]


def in_rounds(
    contenders: Mapping[str, Callable[[], float]], rounds: int, tag: str
) -> dict[str, list[float]]:
    """Each contender's measure (a callable, e.g. a whole command's wall seconds) in every
    round, in turn; each round printed to stderr as it ends."""
    measured: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(rounds):
        for name, measure in contenders.items():
            measured[name].append(measure())
        line = ", ".join(f"{name} {values[-1]:.2f}" for name, values in measured.items())
        print(f"{tag}: round {r + 1}/{rounds}: {line}", file=sys.stderr, flush=True)
    return measured


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the rounds' ratios, each round's pair taken together."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


def each(values: list[float], digits: int = 1) -> str:
    """Every round's value, in order: ``12.3/12.9/12.5``."""
    return "/".join(f"{v:.{digits}f}" for v in values)
