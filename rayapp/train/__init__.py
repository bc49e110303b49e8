"""Fine-tuning on one's own footage: Ray Train on frames streamed from video, no PNG dumps.

- :mod:`rayapp.train.degrade`: seeded Real-ESRGAN-style degradations (high-resolution
  patch -> its low-resolution input);
- :mod:`rayapp.train.data`: the videos, their keyframe segments and the batches of each
  step, decoded by the video job's decode path;
- :mod:`rayapp.train.perceptual`: the optional VGG19 perceptual term (weights the user gives);
- ``run_training`` (``python -m jobs.train``): ``TorchTrainer`` over those batches, with
  validation and checkpoints every K steps, resumable; its CPUs fitted to the cluster.
"""

from rayapp.train._checkpoint import latest_checkpoint
from rayapp.train._config import TrainJobConfig
from rayapp.train._job import TrainResult, run_training
from rayapp.train.degrade import DegradeConfig, degrade

__all__ = [
    "DegradeConfig",
    "TrainJobConfig",
    "TrainResult",
    "degrade",
    "latest_checkpoint",
    "run_training",
]
