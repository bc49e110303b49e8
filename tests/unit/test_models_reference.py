"""Our converted weights + upscaler against ncnn's own CPU run of the same ncnn model.

ncnn is an independent reference: it reads the shipped .param/.bin itself, with none of
our conversion code in the way.
"""

from __future__ import annotations

import ncnn as ncnn_lib
import numpy as np
import pytest
from PIL import Image

from rayapp.models import get_spec
from rayapp.models._ncnn import package_file
from rayapp.testing.metrics import psnr
from rayapp.upscaler import Upscaler
from tests.conftest import DATA


def photo(width: int, height: int) -> np.ndarray:
    """A crop of a real photograph (NASA portrait), HxWx3 uint8."""
    im = Image.open(DATA / "astronaut.png").convert("RGB")
    return np.asarray(im)[20 : 20 + height, 60 : 60 + width].copy()


def ncnn_upscale(stem: str, image: np.ndarray) -> np.ndarray:
    net = ncnn_lib.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 2
    net.load_param(str(package_file(stem, ".param")))
    net.load_model(str(package_file(stem, ".bin")))
    chw = np.ascontiguousarray(image.transpose(2, 0, 1).astype(np.float32) / 255.0)
    mat = ncnn_lib.Mat(chw)  # does not own `chw`: keep both alive until extract returns
    ex = net.create_extractor()
    ex.input("data", mat)
    _, out = ex.extract("output")
    y = np.array(out).clip(0, 1).transpose(1, 2, 0)
    return np.round(y * 255).astype(np.uint8)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "size"),
    [
        ("realesr-animevideov3", (64, 48)),
        ("realesrgan-x4plus-anime", (48, 40)),
        ("realesrgan-x4plus", (40, 32)),
    ],
)
def test_matches_ncnn_cpu_run(model: str, size: tuple[int, int]) -> None:
    image = photo(*size)
    ours = Upscaler.load(model, device="cpu", precision="fp32").upscale(image)
    ref = ncnn_upscale(get_spec(model).ncnn_stem, image)
    assert ours.shape == ref.shape == (size[1] * 4, size[0] * 4, 3)
    assert psnr(ours, ref) >= 45.0


@pytest.mark.slow
def test_x2_variant_is_x4_plus_bicubic_half() -> None:
    """The shipped animevideov3 x2 is the x4 net plus a bicubic 0.5 resize: our outscale=2
    (antialiased bicubic) must agree closely with ncnn's x2 file."""
    image = photo(48, 40)
    ours = Upscaler.load("realesr-animevideov3", outscale=2).upscale(image)
    ref = ncnn_upscale("REALESRGAN_ANIMAVIDEOV3_UP2X", image)
    assert ours.shape == ref.shape == (80, 96, 3)
    assert psnr(ours, ref) >= 40.0
