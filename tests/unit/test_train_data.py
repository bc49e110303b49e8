"""Training data from videos: what is found, skipped and held out, and the batches of each
step, the same from the same seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rayapp.errors import ConfigError
from rayapp.testing import make_test_video
from rayapp.train.data import batch, find_videos, plan_clips, step_items, validation_frames
from rayapp.train.degrade import DegradeConfig


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("footage")
    make_test_video(str(folder / "a.mp4"), frames=24, width=64, height=48, gop=6, texture=True)
    make_test_video(str(folder / "sub" / "b.mkv"), frames=24, width=64, height=48, gop=6)
    make_test_video(str(folder / "small.mp4"), frames=12, width=16, height=16)
    (folder / "broken.mp4").write_bytes(b"not a video" * 10)
    (folder / "notes.txt").write_text("not a video")
    return folder


def test_videos_are_found_by_file_prefix_and_glob(clips_dir: Path) -> None:
    everything = find_videos([str(clips_dir)])
    assert [Path(p).name for p in everything] == ["a.mp4", "broken.mp4", "small.mp4", "b.mkv"]
    assert find_videos([str(clips_dir / "sub" / "*.mkv"), str(clips_dir / "a.mp4")]) == [
        str(clips_dir / "sub" / "b.mkv"), str(clips_dir / "a.mp4")
    ]  # fmt: skip
    for nothing in ("nowhere", "*.mkv"):
        with pytest.raises(ConfigError, match="No video at "):
            find_videos([str(clips_dir / nothing)])


def test_bad_and_small_videos_are_skipped_and_reported(clips_dir: Path) -> None:
    clips, skipped = plan_clips(
        find_videos([str(clips_dir)]), patch=32, segment_s=0.25, hold_out=True
    )
    assert [Path(c.uri).name for c in clips] == ["a.mp4", "b.mkv"]
    assert [(Path(u).name, why[:40]) for u, why in skipped] == [
        ("broken.mp4", f"{clips_dir / 'broken.mp4'} is not a readable media"[:40]),
        ("small.mp4", "its 16x16 frames are smaller than the 32"),
    ]
    assert all(len(c.held_out) == 1 and len(c.train) == 3 for c in clips)  # gop 6 of 24
    with pytest.raises(ConfigError, match="No usable training video .*smaller than the 99x99"):
        plan_clips(find_videos([str(clips_dir)]), patch=99, segment_s=0.25, hold_out=True)


def test_batches_are_seeded_and_shaped(clips_dir: Path) -> None:
    clips, _ = plan_clips([str(clips_dir / "a.mp4")], patch=32, segment_s=0.25, hold_out=True)
    items = step_items(clips, range(3, 6), rank=1, seed=7)
    assert [i["step"] for i in items] == [3, 4, 5] and {i["rank"] for i in items} == {1}
    again = step_items(clips, range(5, 6), rank=1, seed=7)  # a resumed run: the same item
    assert again[0]["segment"] == items[2]["segment"]
    options = {"batch_size": 3, "patch": 32, "scale": 4, "seed": 7,
               "degrade_config": DegradeConfig()}  # fmt: skip
    first, second = batch(items[0], **options), batch(items[0], **options)
    assert first["hr"].shape == (3, 32, 32, 3) and first["lr"].shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(first["lr"], second["lr"])
    held = {f for s in clips[0].held_out for f in range(s.start, s.stop)}
    assert all(not held & set(range(i["segment"].start, i["segment"].stop)) for i in items)
    pairs = validation_frames(clips, 2, 4, 7, DegradeConfig())
    assert [(hr.shape, lr.shape) for hr, lr in pairs] == [((48, 64, 3), (12, 16, 3))] * 2
