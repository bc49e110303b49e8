"""Fine-tuning on one's own footage (issue: Ray Train on frames streamed from video).

So far: :mod:`rayapp.train.degrade`, the seeded Real-ESRGAN-style degradations that make a
low-resolution input from a high-resolution patch.
"""

from rayapp.train.degrade import DegradeConfig, degrade

__all__ = ["DegradeConfig", "degrade"]
