"""Scene cuts (rayapp.video._scenes): found where the picture cuts, and nowhere a pan, a
fade or a test pattern's changing cells would put a keyframe inside a scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data

from rayapp.testing import make_test_video
from rayapp.testing.motion import area_downscaled, scene_truth, write_clip
from rayapp.video import probe, scene_cuts, scene_scores
from tests.scenes import CUTS, SceneClip


def test_cuts_are_found_where_the_photograph_changes(scene_clip: SceneClip) -> None:
    assert scene_cuts(probe(scene_clip.source)) == CUTS


def _pans(folder: Path, name: str, frames: np.ndarray) -> str:
    return write_clip(str(folder / f"{name}.mp4"), area_downscaled(frames, 2))


@pytest.fixture(scope="module")
def two_pans(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    coffee = scene_truth([(skimage.data.coffee(), 36, (1.2, 0.4))], 240, 320)
    rocket = scene_truth([(skimage.data.rocket(), 36, (-2.5, 0.0))], 240, 320)
    return coffee, rocket


def test_a_pan_has_no_cut(two_pans: tuple, tmp_path: Path) -> None:
    for frames in two_pans:
        assert scene_cuts(probe(_pans(tmp_path, "pan", frames))) == ()


def test_fades_have_no_cut(two_pans: tuple, tmp_path: Path) -> None:
    """A cross-fade over 12 frames, and a fade to black over 8 frames and back in."""
    a, b = (f.astype(np.float32) for f in two_pans)
    mix = np.linspace(0, 1, 12)[:, None, None, None]
    cross = np.concatenate([a[:12], (1 - mix) * a[12:24] + mix * b[12:24], b[24:]])
    out = np.linspace(1, 0, 9)[:, None, None, None]
    black = np.concatenate([a[:10], out * a[10:19], out[::-1] * b[19:28], b[28:]])
    for name, frames in (("cross", cross), ("black", black)):
        clip = _pans(tmp_path, name, np.round(frames).astype(np.uint8))
        assert scene_cuts(probe(clip)) == (), name


def test_test_patterns_have_no_cut(tmp_path: Path) -> None:
    """The frame-index pattern of every other test swaps whole cells from frame to frame
    (most at frame 128): the picture changes, its colours do not."""
    src = make_test_video(str(tmp_path / "pattern.mkv"), frames=130, texture=True, audio=False)
    scores = scene_scores(probe(src))
    assert scores.change[128] > 50  # a change a cut would make...
    assert scene_cuts(probe(src)) == ()  # ...with the colours of the frame before
