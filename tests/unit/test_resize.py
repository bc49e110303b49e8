"""The one resize rule: an 8-bit image made smaller takes PyTorch's 8-bit path, within one
level of the float path it stands for; everything else is the float path itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rayapp.resize import resize_image, resize_tensor


def float_path(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The rule in float: bicubic, antialiased when shrinking, rounded to the image's type."""
    top = float(np.iinfo(image.dtype).max)
    hwc = image if image.ndim == 3 else image[..., None]
    x = torch.from_numpy(hwc.astype(np.float32)).permute(2, 0, 1)[None] / top
    y = (resize_tensor(x, size)[0] * top).round().permute(1, 2, 0).numpy().astype(image.dtype)
    return y if image.ndim == 3 else y[..., 0]


@pytest.mark.parametrize("shape", [(61, 83, 3), (61, 83, 4), (61, 83)], ids=["rgb", "rgba", "grey"])
@pytest.mark.parametrize("size", [(15, 20), (61, 40), (30, 83), (1, 1)])
def test_an_8_bit_image_made_smaller_is_within_a_level_of_the_float_path(
    shape: tuple[int, ...], size: tuple[int, int]
) -> None:
    image = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    small = resize_image(image, size)
    want = float_path(image, size)
    assert small.shape == want.shape == (*size, *shape[2:]) and small.dtype == np.uint8
    assert small.flags.c_contiguous
    assert np.abs(small.astype(int) - want).max() <= 1
    flat = np.full(shape, 77, np.uint8)  # a flat image stays flat: the weights sum to one
    assert np.array_equal(resize_image(flat, size), np.full(want.shape, 77, np.uint8))


@pytest.mark.parametrize(
    ("dtype", "size"),
    [(np.uint8, (122, 166)), (np.uint8, (30, 166)), (np.uint8, (61, 83)), (np.uint16, (15, 20))],
    ids=["larger", "one-side-larger", "same-size", "16-bit-smaller"],
)
def test_everything_else_is_the_float_path(dtype: type, size: tuple[int, int]) -> None:
    top = np.iinfo(dtype).max
    image = np.random.default_rng(4).integers(0, top + 1, (61, 83, 3), dtype=dtype)
    assert np.array_equal(resize_image(image, size), float_path(image, size))
