"""The benchmark's ``faces`` section: what ``--face-enhance`` costs a frame with one face, and
how steady it holds a moving face.

A clip of the astronaut's face moving across the frame (``rayapp.testing.motion``, 2 px a
frame, ``--faces-seconds`` at ``--fps``, 320x240) is upscaled x2 by the model; for its
first ``--faces-frames`` frames, in rounds taken in turn (each round's and the median), the
milliseconds a frame of each step on this machine's CPU: the model, finding the faces
(MTCNN on the source frame), steadying their landmarks, and restoring the face (a GFPGAN
network of v1.4's architecture with random weights: its cost, not its look) with its crop
and paste.
Over the whole clip: the largest jump (second difference) of the landmarks' centre from
frame to frame, as detected and as steadied.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

from benchmarks.config import BenchmarkConfig
from benchmarks.table import table
from rayapp.faces import FaceDetector, FaceEnhancer, FaceRestorer, steady_landmarks
from rayapp.testing.faces import random_gfpgan
from rayapp.testing.motion import photographs, scene_truth
from rayapp.upscaler import Upscaler

__all__ = ["section_faces"]

SPEED = (-2.0, 0.5)  # the face's pixels a frame


def section_faces(cfg: BenchmarkConfig) -> str:
    import torch

    torch.set_num_threads(cfg.threads)
    w, h = cfg.size_wh((320, 240))
    count = max(3, round(cfg.faces_seconds * cfg.fps))
    clip = scene_truth([(photographs()[2], count, SPEED)], h, w)
    detector = FaceDetector()
    detections = [detector.find(frame) for frame in clip]
    found = sum(1 for d in detections if d)
    steps: dict[str, list[float]] = {
        name: [] for name in ("model", "find", "steady", "restore and paste", "a frame")
    }
    upscaler = Upscaler.load(cfg.model, device="cpu", outscale=2)
    with TemporaryDirectory() as folder:
        restorer = FaceRestorer.load(random_gfpgan(Path(folder) / "GFPGANv1.4.pth"))
    enhancer = FaceEnhancer(detector, restorer)
    frames = clip[: cfg.faces_frames]
    upscaler.upscale_batch(frames[:1])  # warm
    for _ in range(cfg.faces_rounds):
        _round(frames, upscaler, enhancer, steps)
    rows = [
        [name, " ".join(f"{v:.0f}" for v in values), f"{statistics.median(values):.0f}"]
        for name, values in steps.items()
    ]
    raw = np.array([d[0].landmarks.mean(axis=0) for d in detections if d])
    steadied = steady_landmarks(detections, range(len(detections)))
    steady = np.array([s[0].mean(axis=0) for s in steadied if s])
    head = (
        f"== faces: {cfg.model} x2 and a GFPGAN v1.4-shaped network (random weights), "
        f"{w}x{h} -> {2 * w}x{2 * h}, one face in {found} of {count} frames, moving "
        f"{SPEED} px a frame; CPU, {cfg.threads} threads; ms a frame, {len(frames)} frames "
        "a round"
    )
    jitter = (
        f"-- the landmarks' centre, largest second difference over the clip: "
        f"{_jump(raw):.2f} px as detected, {_jump(steady):.2f} px steadied"
    )
    header = ["step", "ms each round", "median"]
    return "\n".join([head, table(header, rows), jitter])


def _round(
    frames: np.ndarray,
    upscaler: Upscaler,
    enhancer: FaceEnhancer,
    steps: dict[str, list[float]],
) -> None:
    """One round: each step over ``frames``, its milliseconds a frame added to ``steps``."""
    timed: dict[str, float] = dict.fromkeys(steps, 0.0)
    started = time.perf_counter()
    big = upscaler.upscale_batch(frames)
    timed["model"] = time.perf_counter() - started
    started = time.perf_counter()
    found = [enhancer.detector.find(frame) for frame in frames]
    timed["find"] = time.perf_counter() - started
    started = time.perf_counter()
    marks = steady_landmarks(found, range(len(frames)))
    timed["steady"] = time.perf_counter() - started
    started = time.perf_counter()
    for picture, landmarks in zip(big, marks, strict=True):
        if landmarks:
            enhancer.restored(picture, frames.shape[1:3], landmarks)
    timed["restore and paste"] = time.perf_counter() - started
    timed["a frame"] = sum(timed.values())
    for name, seconds in timed.items():
        steps[name].append(1000 * seconds / len(frames))


def _jump(centres: np.ndarray) -> float:
    return float(np.abs(centres[2:] - 2 * centres[1:-1] + centres[:-2]).max())
