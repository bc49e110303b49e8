"""Training batches streamed from videos: no frame is ever written to disk.

The plan is a function of the seed alone: the batch of step ``s`` on worker ``r`` comes from
one keyframe segment drawn with ``default_rng([seed, s, r])``, its patches and degradations
from the same generator. Each item is decoded by the video job's own decode path
(``decode_segment``, frame-exact, any fsspec URI) and degraded in a Ray Data task, so a
resumed run at step ``s`` sees exactly the batches it would have seen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rayapp import storage
from rayapp.errors import ConfigError, RayappError
from rayapp.train.degrade import DegradeConfig, degrade
from rayapp.video import VIDEO_SUFFIXES, Segment, decode_segment, plan_segments, probe

__all__ = ["Clip", "batch", "find_videos", "plan_clips", "step_items", "validation_frames"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    """One usable video: its keyframe segments for training, and those held out."""

    uri: str
    train: tuple[Segment, ...]
    held_out: tuple[Segment, ...]


def find_videos(specs: Sequence[str]) -> list[str]:
    """Every video a spec names: a file, the videos under a prefix, or a glob's matches."""
    found: list[str] = []
    for spec in specs:
        fs, path = storage.filesystem(spec)
        scheme = spec.split("://", 1)[0] + "://" if "://" in spec else ""
        if any(c in path for c in "*?["):
            paths = sorted(fs.glob(path))
        elif fs.isdir(path):
            paths = sorted(p for p in fs.find(path) if p.lower().endswith(VIDEO_SUFFIXES))
        else:
            paths = [path] if fs.exists(path) else []
        if not paths:
            raise ConfigError(f"No video at {spec}")
        found += [p if p.startswith(scheme) or not scheme else scheme + p for p in paths]
    return found


def plan_clips(
    uris: Sequence[str], *, patch: int, segment_s: float, hold_out: bool
) -> tuple[list[Clip], list[tuple[str, str]]]:
    """(usable clips, [(uri, why skipped)]). A video that does not probe, or whose frames
    are smaller than ``patch``, is skipped and reported; ``hold_out``: each clip's last
    segment is kept for validation. ConfigError when nothing is left."""
    clips, skipped = [], []
    for uri in uris:
        try:
            info = probe(uri)
        except RayappError as e:
            skipped.append((uri, str(e)))
            continue
        if min(info.video.width, info.video.height) < patch:
            skipped.append(
                (uri, f"its {info.video.width}x{info.video.height} frames are smaller than "
                      f"the {patch}x{patch} patch")
            )  # fmt: skip
            continue
        segments = plan_segments(info, segment_s)
        if hold_out and len(segments) < 2:
            skipped.append((uri, "one segment only: nothing left to hold out for validation"))
            continue
        cut = len(segments) - 1 if hold_out else len(segments)
        clips.append(Clip(uri, segments[:cut], segments[cut:]))
    for uri, why in skipped:
        log.warning("skipped %s: %s", uri, why)
    if not clips:
        reasons = "; ".join(f"{os.path.basename(u)}: {w}" for u, w in skipped[:3])
        raise ConfigError(f"No usable training video ({reasons})")
    return clips, skipped


def step_items(clips: Sequence[Clip], steps: range, rank: int, seed: int) -> list[dict]:
    """One item per step for worker ``rank``: the segment its batch comes from."""
    items = []
    for step in steps:
        rng = np.random.default_rng([seed, step, rank])
        clip = clips[rng.integers(len(clips))]
        items.append(
            {"step": step, "rank": rank, "uri": clip.uri,
             "segment": clip.train[rng.integers(len(clip.train))]}
        )  # fmt: skip
    return items


def batch(
    item: dict, *, batch_size: int, patch: int, scale: int, seed: int, degrade_config: DegradeConfig
) -> dict:
    """The item's batch: ``hr`` (N, patch, patch, 3) and ``lr`` (N, patch/scale, ., 3),
    uint8, random patches of the segment's frames, each degraded (``rayapp.train.degrade``)."""
    frames = [f.image for f in decode_segment(item["uri"], item["segment"])]
    rng = np.random.default_rng([seed, item["step"], item["rank"], 1])
    hr, lr = [], []
    for _ in range(batch_size):
        image = frames[rng.integers(len(frames))]
        y = rng.integers(image.shape[0] - patch + 1)
        x = rng.integers(image.shape[1] - patch + 1)
        crop = np.ascontiguousarray(image[y : y + patch, x : x + patch])
        hr.append(crop)
        lr.append(degrade(crop, scale, rng, degrade_config))
    return {"step": item["step"], "hr": np.stack(hr), "lr": np.stack(lr)}


def validation_frames(
    clips: Sequence[Clip], count: int, scale: int, seed: int, degrade_config: DegradeConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(high-resolution frame, its degraded input) for ``count`` frames of each clip's held-out
    segments, cropped to a multiple of ``scale``; the degradations fixed by ``seed``."""
    pairs = []
    for c, clip in enumerate(clips):
        frames = [f.image for s in clip.held_out for f in decode_segment(clip.uri, s)]
        picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
        for i in picks:
            h, w = (v - v % scale for v in frames[i].shape[:2])
            hr = np.ascontiguousarray(frames[i][:h, :w])
            rng = np.random.default_rng([seed, 1_000_003, c, int(i)])
            pairs.append((hr, degrade(hr, scale, rng, degrade_config)))
    return pairs
