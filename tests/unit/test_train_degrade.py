"""Training degradations: seeded and reproducible, exact low-resolution shapes, and each
step doing what it says."""

from __future__ import annotations

import numpy as np
import pytest

from rayapp import quality
from rayapp.errors import ConfigError
from rayapp.resize import resize_image
from rayapp.train import DegradeConfig, degrade
from tests.unit.test_models_reference import photo

HR = photo(96, 96)  # a real photograph's crop


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others() -> None:
    for seed in range(6):  # enough draws to pass through JPEG and H.264 endings
        a = degrade(HR, 4, np.random.default_rng(seed))
        b = degrade(HR, 4, np.random.default_rng(seed))
        np.testing.assert_array_equal(a, b)
    c, d = (degrade(HR, 4, np.random.default_rng(s)) for s in (1, 2))
    assert not np.array_equal(c, d)


@pytest.mark.parametrize(
    ("size", "scale", "want"),
    [((96, 96), 1, (96, 96)), ((96, 64), 2, (48, 32)), ((96, 66), 3, (32, 22)),
     ((96, 96), 4, (24, 24)), ((90, 66), 2, (45, 33))],
)  # fmt: skip
@pytest.mark.parametrize("video", [0.0, 1.0])
def test_low_resolution_shapes_are_exact(
    size: tuple[int, int], scale: int, want: tuple[int, int], video: float
) -> None:
    hr = np.ascontiguousarray(photo(96, 96)[: size[0], : size[1]])
    lr = degrade(hr, scale, np.random.default_rng(0), DegradeConfig(video_prob=video))
    assert lr.shape == (*want, 3) and lr.dtype == np.uint8


def test_degraded_inputs_are_worse_than_a_clean_downscale() -> None:
    clean = resize_image(HR, (24, 24))
    scores = [quality.psnr(degrade(HR, 4, np.random.default_rng(s)), clean)[0] for s in range(8)]
    assert all(10 < s < 40 for s in scores), scores
    assert max(scores) - min(scores) > 2  # the ranges are drawn: patches differ in damage


def test_h264_ending_leaves_codec_damage_and_jpeg_another() -> None:
    still = DegradeConfig(
        blur_prob=(0.0, 0.0), resize=((1.0, 1.0), (1.0, 1.0)),
        gaussian_noise=((0.0, 0.0), (0.0, 0.0)), poisson_prob=0.0,
        jpeg_quality=((95, 95), (95, 95)),
    )  # fmt: skip
    jpeg = degrade(HR, 1, np.random.default_rng(0), still)
    h264 = degrade(HR, 1, np.random.default_rng(0), still.model_copy(update={"video_prob": 1.0}))
    assert quality.psnr(jpeg, HR)[0] > 30 and quality.psnr(h264, HR)[0] > 25
    assert not np.array_equal(jpeg, h264)


def test_bad_patches_and_ranges_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="does not divide by the scale 4"):
        degrade(HR[:30], 4, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="HxWx3 uint8"):
        degrade(HR.astype(np.uint16), 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="resize: expected 0 <= low <= high"):
        DegradeConfig(resize=((2.0, 1.0), (0.3, 1.2)))
