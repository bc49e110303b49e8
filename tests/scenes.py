"""The clip the temporal tests hold the job against: three scenes of sub-pixel pans over
real photographs (scikit-image's coffee, rocket and astronaut), hard cuts between them,
made from a ground truth twice its size by area downscaling (``rayapp.testing.motion``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rayapp.testing.motion import area_downscaled, photographs, scene_truth, write_clip

SCENE_FRAMES = 16  # two thirds of a second each at 24 frames a second
CUTS = (16, 32)
FRAMES = 3 * SCENE_FRAMES
# Pans of 1.4, 0.9 and 1.3 truth pixels a frame: 0.7, 0.45 and 0.65 source pixels.
PANS = ((1.4, 0.3), (-0.9, 0.5), (1.1, -0.6))


@dataclass(frozen=True)
class SceneClip:
    truth: np.ndarray  # NHWC uint8, 320x240: what an x2 upscale should make
    source: str  # H.264 of the truth area-downscaled to 160x120, with audio


def make_scene_clip(folder: Path) -> SceneClip:
    scenes = [(photo, SCENE_FRAMES, pan) for photo, pan in zip(photographs(), PANS, strict=True)]
    truth = scene_truth(scenes, 240, 320)
    source = write_clip(str(folder / "scenes.mp4"), area_downscaled(truth, 2))
    return SceneClip(truth, source)
