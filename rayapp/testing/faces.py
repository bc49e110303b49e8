"""Faces for tests that run whole video jobs: ``FaceNearestUpscaler``, a nearest-neighbour
upscaler that carries ``--face-enhance``'s step with MTCNN and a restorer that costs nothing
(``TintedFaces``), where a GFPGAN network takes seconds a face on a CPU."""

from __future__ import annotations

from typing import Any

import numpy as np

from rayapp.testing.patterns import NearestUpscaler

__all__ = ["FaceNearestUpscaler", "TintedFaces"]


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
