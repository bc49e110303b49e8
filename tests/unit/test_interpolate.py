"""The ``flow`` interpolator on a clip with a ground truth: 2 s of pans over photographs at
48 frames a second, every other frame dropped and made again between its neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rayapp.interpolate import blend_frames, interpolate_flow
from rayapp.quality import psnr
from rayapp.testing.motion import minterpolated, photographs, scene_truth

CUT = 24  # the first kept frame of the second scene


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    """96 frames at 48 frames/s, 320x240: coffee panning (4.3, 1.2) px a frame, then the
    astronaut (-3.1, 2.4); kept frames 0-23 are the first scene, 24-47 the second."""
    coffee, _, astronaut = photographs()
    return scene_truth([(coffee, 48, (4.3, 1.2)), (astronaut, 48, (-3.1, 2.4))], 240, 320)


def test_new_frames_beat_blending_by_6_db_and_minterpolate(truth: np.ndarray) -> None:
    kept, dropped = truth[::2], truth[1::2]
    pairs = [i for i in range(len(kept) - 1) if i + 1 != CUT]  # not across the cut
    mci = minterpolated(kept)
    pairs = [i for i in pairs if 2 * i + 1 < len(mci)]  # the filter holds its last back
    assert len(pairs) == 45

    def mean_psnr(made: list[np.ndarray]) -> float:
        return float(np.mean([psnr(m, dropped[i])[0] for m, i in zip(made, pairs, strict=True)]))

    flow = mean_psnr([interpolate_flow(kept[i], kept[i + 1], [0.5])[0] for i in pairs])
    blend = mean_psnr([blend_frames(kept[i], kept[i + 1], [0.5])[0] for i in pairs])
    ffmpeg = mean_psnr([mci[2 * i + 1] for i in pairs])
    assert flow >= blend + 6, (flow, blend)
    assert flow >= ffmpeg - 0.3, (flow, ffmpeg)


def test_flows_of_smaller_frames_are_scaled_and_types_kept(truth: np.ndarray) -> None:
    """Flow measured on the source serves its x2 upscale; uint16 frames stay uint16."""
    from rayapp.interpolate import flows_between
    from rayapp.testing.motion import area_downscaled

    a, b, middle = truth[0], truth[2], truth[1]
    small = area_downscaled(truth[:3], 2)
    flows = flows_between(small[0], small[2])
    assert flows[0].shape == (120, 160, 2)
    made = interpolate_flow(a, b, [0.5], flows)[0]
    assert made.shape == a.shape and made.dtype == np.uint8
    assert psnr(made, middle)[0] >= psnr(blend_frames(a, b, [0.5])[0], middle)[0] + 6
    deep = interpolate_flow(a.astype(np.uint16) * 257, b.astype(np.uint16) * 257, [0.25, 0.75])
    assert [f.dtype for f in deep] == [np.uint16, np.uint16]
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        interpolate_flow(a, b, [1.0])


def test_a_variable_rate_timeline_gets_its_new_frames_at_the_midpoints(tmp_path: Path) -> None:
    """``multiplied_rate``: each interval of the source's own divided evenly, the last by
    its frame's duration; the duration kept (the interpolated job's timeline)."""
    from fractions import Fraction

    from rayapp.testing import make_test_video
    from rayapp.video import multiplied_rate, probe

    source = probe(make_test_video(str(tmp_path / "vfr.mkv"), frames=6, vfr=True)).video
    assert source.time_base == Fraction(1, 1000)
    assert source.frame_pts == (0, 42, 104, 125, 167, 250)  # ms; the last lasts 65
    twice = multiplied_rate(probe(str(tmp_path / "vfr.mkv")), 2).video
    assert twice.time_base == Fraction(1, 2000)
    # New frames at 21, 73, 114.5, 146, 208.5 and 282.5 ms: each interval's midpoint.
    assert twice.frame_pts == (0, 42, 84, 146, 208, 229, 250, 292, 334, 417, 500, 565)
    thrice = multiplied_rate(probe(str(tmp_path / "vfr.mkv")), 3).video
    assert thrice.time_base == Fraction(1, 3000)
    assert thrice.frame_pts[:6] == (0, 42, 84, 126, 188, 250)  # 0, 14, 28, 42, 62.7, 83.3 ms
    assert twice.duration_s == thrice.duration_s == source.duration_s == 0.315
