"""Which interpolator a job's ``--interpolator`` names: ``flow`` (``rayapp.interpolate``, no
weights) or a RIFE checkpoint by path or URI (``rayapp.rife``), checked before any work
and loaded once per replica."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rayapp.interpolate import Interpolator

__all__ = ["check_interpolator", "load_interpolator"]

FLOW = "flow"  # the interpolator that needs no weights (rayapp.interpolate.FlowInterpolator)


def load_interpolator(spec: str, device: str = "cpu") -> Interpolator:
    """The interpolator ``spec`` names: ``flow``, or the path or URI of a RIFE checkpoint
    (run on ``device``; anything else refused with a ``WeightsError`` in one line)."""
    if spec == FLOW:
        from rayapp.interpolate import FlowInterpolator

        return FlowInterpolator()
    from rayapp.rife import RifeInterpolator  # torch: only for a checkpoint

    return RifeInterpolator.load(spec, device)


def check_interpolator(spec: str) -> None:
    """``WeightsError`` in one line unless ``spec`` names an interpolator: a RIFE
    checkpoint is read here, before any work (torch is imported)."""
    if spec != FLOW:
        load_interpolator(spec)
