"""Faces for tests that run whole video jobs: ``FaceNearestUpscaler``, a nearest-neighbour
upscaler that carries ``--face-enhance``'s step with MTCNN and a restorer that costs nothing
(``TintedFaces``), where a GFPGAN network takes seconds a face on a CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rayapp.testing.patterns import NearestUpscaler

__all__ = ["FaceNearestUpscaler", "TintedFaces", "random_gfpgan"]


class TintedFaces:
    """A stand-in restorer: each aligned face (``N x 512 x 512 x 3`` float in [0, 1])
    made darker and warmer, the same every time."""

    name = "tinted"

    def restore(self, crops: np.ndarray) -> np.ndarray:
        tint = np.asarray([0.9, 0.75, 0.6], np.float32)
        return np.clip(crops * tint, 0, 1)


class FaceNearestUpscaler(NearestUpscaler):
    """``NearestUpscaler`` with faces (``faces``: MTCNN and ``TintedFaces``), made where
    it runs (a Ray replica) rather than pickled."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__(scale)
        self._faces: Any = None

    @property
    def faces(self) -> Any:
        if self._faces is None:
            from rayapp.faces import FaceDetector, FaceEnhancer

            self._faces = FaceEnhancer(FaceDetector(), TintedFaces())  # type: ignore[arg-type]
        return self._faces

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_faces": None}


def random_gfpgan(path: Path) -> str:
    """A GFPGAN v1.4-shaped network (spandrel's GFPGANv1Clean as spandrel loads it) with
    random weights (seed 0), saved as a ``.pth`` state dict at ``path``: a checkpoint to
    load by path (GFPGAN's weights cannot be downloaded here)."""
    import torch
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    net = GFPGAN(
        out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
        fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1,
        sft_half=True,
    )  # fmt: skip
    torch.save(net.state_dict(), path)
    return str(path)
