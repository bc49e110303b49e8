"""Faces made whole (``--face-enhance``): each face found in a picture aligned to the FFHQ
template, restored by the user's checkpoint and pasted back into the upscaled picture.

- **Detection** on the low-resolution picture: MTCNN (Zhang et al., 2016) as
  ``facenet-pytorch`` packages it, its weights inside the package (MIT licence, Copyright
  (c) 2019 Timothy Esler): per face a box, a score and five landmarks in FFHQ's order (the
  eyes, the nose, the corners of the mouth). Chosen by measurement over dlib's HOG detector
  with its 5-point model (the other detector whose weights ship in a package): on
  scikit-image's astronaut and cameraman MTCNN found both faces and nothing else, dlib the
  astronaut, a false face on her suit and not the cameraman (turned three-quarters); 2 MB
  installed against 137 MB; its landmarks are FFHQ's five, dlib's are eye corners. Faces
  under ``MIN_FACE_PX`` wide are left to the upscaler (logged once).
- **Alignment**: the similarity transform (rotation, one scale, shift) that takes the
  landmarks, scaled to the upscaled picture, nearest to GFPGAN's 512 x 512 template
  (``FFHQ_512``, facexlib's), as GFPGAN's own pipeline aligns (least median of squares).
- **Restoration**: a face-restoration network by checkpoint (spandrel's purpose
  ``FaceSR``: GFPGAN 1.2-1.4, RestoreFormer), on ``[-1, 1]`` as they were trained, and
  without drawing noise (GFPGAN draws fresh noise each call by default: the same face
  would come out different every time).
- **Steady in video** (``steady_landmarks``): each face followed to the frames around it
  (``FACE_REACH`` on either side, never past the frames given: a chunk gets those of its
  scene), and its landmarks there fitted with a straight line in time, read at the frame:
  a face moving at a steady speed keeps it, the detector's jitter of a pixel or two is
  averaged out. A frame's landmarks depend only on the frames within its reach, so where a
  video is cut into chunks never changes them.
- **Paste back**: the restored face blended with the aligned crop by ``strength``, warped
  back with the inverse transform, and laid over the upscaled picture under a mask that
  fades over the face's edge (``paste_mask``, facexlib's feathering). Only pixels under the
  mask change; a picture with no face is returned as it was, the same array.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rayapp.config import FACE_REACH
from rayapp.errors import WeightsError
from rayapp.quality import peak

__all__ = [
    "FACE_REACH",
    "FFHQ_512",
    "MIN_FACE_PX",
    "Face",
    "FaceDetector",
    "FaceEnhancer",
    "FaceRestorer",
    "alignment",
    "paste_mask",
    "steady_landmarks",
]

log = logging.getLogger(__name__)

FACE_SIZE = 512  # what the restoration networks take and make
# GFPGAN's template: where the five landmarks of a face lie in its 512 x 512 crop.
FFHQ_512 = np.array(
    [
        [192.98138, 239.94708],  # the eye on the picture's left
        [318.90277, 240.19360],  # the other eye
        [256.63416, 314.01935],  # the tip of the nose
        [201.26117, 371.41043],  # the corner of the mouth on the left
        [313.08905, 371.15118],  # the other corner
    ],
    np.float32,
)
MIN_FACE_PX = 24  # a face narrower than this in the source is left to the upscaler
FACE_SCORE = 0.95  # MTCNN's probability a box must reach to count as a face
_SEARCH_PX = 16  # the smallest face looked for (MTCNN can go to 12: 40 % slower): found, left


# A face in the next frame is the same face when its landmarks' centre lies within this
# share of its width of the last one's.
SAME_FACE = 0.5


@dataclass(frozen=True)
class Face:
    """One face: its box (left, top, right, bottom), score, and five landmarks (5 x 2,
    x and y) in FFHQ's order, in the picture's pixels."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


class FaceDetector:
    """MTCNN on ``device``: ``find(image)`` -> the faces of an ``HxWx3`` RGB picture
    (uint8 or uint16), at least ``MIN_FACE_PX`` wide, best first."""

    def __init__(self, device: str = "cpu") -> None:
        try:
            from facenet_pytorch import MTCNN
        except ImportError as e:  # installed by scripts/setup.sh, without its dependencies
            raise ImportError(
                "--face-enhance needs facenet-pytorch: pip install --no-deps "
                "facenet-pytorch==2.6.0 (scripts/setup.sh does)"
            ) from e
        self._mtcnn = MTCNN(keep_all=True, min_face_size=_SEARCH_PX, device=device)
        self._small_logged = False

    def find(self, image: np.ndarray) -> list[Face]:
        picture = image if image.dtype == np.uint8 else (image >> 8).astype(np.uint8)
        boxes, scores, points = self._mtcnn.detect(np.ascontiguousarray(picture), landmarks=True)
        if boxes is None:
            return []
        faces = [
            Face(tuple(float(v) for v in box), float(score), np.asarray(mark, np.float32))
            for box, score, mark in zip(boxes, scores, points, strict=True)
            if score >= FACE_SCORE
        ]
        small = [f for f in faces if f.width < MIN_FACE_PX]
        if small and not self._small_logged:
            self._small_logged = True
            log.info(
                "%d face(s) under %d px wide left to the upscaler (smallest %.0f px); "
                "said once", len(small), MIN_FACE_PX, min(f.width for f in small),
            )  # fmt: skip
        return sorted((f for f in faces if f.width >= MIN_FACE_PX), key=lambda f: -f.score)


def steady_landmarks(
    detections: Sequence[Sequence[Face]], frames: Sequence[int], reach: int = FACE_REACH
) -> list[list[np.ndarray]]:
    """For each of ``frames`` (indices into ``detections``, each frame's faces), the
    landmarks of each of its faces (in their order) steadied over the frames around it
    (module docstring): the face followed frame by frame to at most ``reach`` frames on
    either side within ``detections``, a straight line fitted to each coordinate, read at
    the frame."""
    out = []
    for i in frames:
        steadied = []
        for face in detections[i]:
            times, points = [0], [face.landmarks]
            for step in (-1, 1):
                last = face.landmarks
                for t in range(step, step * (reach + 1), step):
                    if not 0 <= i + t < len(detections):
                        break
                    same = _nearest(detections[i + t], last, SAME_FACE * face.width)
                    if same is None:
                        break
                    times.append(t)
                    points.append(same.landmarks)
                    last = same.landmarks
            steadied.append(_line_at_zero(np.asarray(times, np.float64), np.stack(points)))
        out.append(steadied)
    return out


def _nearest(faces: Sequence[Face], landmarks: np.ndarray, within: float) -> Face | None:
    """The face of ``faces`` whose landmarks' centre is nearest that of ``landmarks``, if
    within ``within`` pixels."""
    centre = landmarks.mean(axis=0)

    def away(face: Face) -> float:
        return float(np.hypot(*(face.landmarks.mean(axis=0) - centre)))

    best = min(faces, key=away, default=None)
    return best if best is not None and away(best) <= within else None


def _line_at_zero(times: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Each coordinate of ``points`` (T x 5 x 2, at ``times``) fitted with a straight line
    in time (least squares), read at time 0; one point: itself."""
    if len(times) < 2:
        return points[0].astype(np.float32)
    design = np.stack([np.ones_like(times), times], axis=1)
    fit, *_ = np.linalg.lstsq(design, points.reshape(len(times), -1), rcond=None)
    return fit[0].reshape(points.shape[1:]).astype(np.float32)


def alignment(landmarks: np.ndarray, scale: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """The 2 x 3 similarity transform that takes ``landmarks`` (5 x 2, in the source's
    pixels; ``scale``: (x, y) to the upscaled picture's) onto ``FFHQ_512``."""
    points = landmarks * np.asarray(scale, np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(points, FFHQ_512, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError(f"No similarity transform takes {points.tolist()} onto the template")
    return matrix


def paste_mask(matrix: np.ndarray, height: int, width: int) -> np.ndarray:
    """Where a face aligned by ``matrix`` is pasted into a ``height`` x ``width`` picture,
    and how much (HxW float32 in [0, 1]): the crop's square warped back, eroded, its edge
    faded over a twentieth of the face's size (facexlib's feathering)."""
    inverse = cv2.invertAffineTransform(matrix)
    square = np.ones((FACE_SIZE, FACE_SIZE), np.float32)
    inside = cv2.warpAffine(square, inverse, (width, height), flags=cv2.INTER_NEAREST)
    scale = max(1, round(float(np.sqrt(abs(np.linalg.det(inverse[:, :2]))))))
    inside = cv2.erode(inside, np.ones((2 * scale, 2 * scale), np.uint8))
    edge = int(np.sqrt(inside.sum())) // 20
    if edge < 1:
        return inside
    center = cv2.erode(inside, np.ones((2 * edge, 2 * edge), np.uint8))
    return cv2.GaussianBlur(center, (2 * edge + 1, 2 * edge + 1), 0) * inside


class FaceRestorer:
    """A face-restoration checkpoint (spandrel's purpose ``FaceSR``) on ``device``:
    ``restore(crops)`` of aligned ``N x 512 x 512 x 3`` float32 faces in [0, 1]."""

    def __init__(self, descriptor: Any, device: str = "cpu") -> None:
        import torch

        self._torch = torch
        self.name = descriptor.name
        self._noise = {"randomize_noise": False} if self.name == "GFPGAN" else {}
        self._model = descriptor.model.to(device).eval()
        self.device = torch.device(device)

    @classmethod
    def load(cls, checkpoint: str, device: str = "cpu") -> FaceRestorer:
        """The network at ``checkpoint`` (a path or URI); ``WeightsError`` in one line
        naming what it is when that is not face restoration."""
        from rayapp.models import load_model

        descriptor = load_model(checkpoint)
        if descriptor.purpose != "FaceSR":
            raise WeightsError(
                f"{checkpoint} is a {descriptor.name} network for "
                f"{descriptor.purpose}, not face restoration: give --face-enhance a GFPGAN "
                "or RestoreFormer checkpoint"
            )
        return cls(descriptor, device)

    def restore(self, crops: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).contiguous()
        x = x.to(self.device)
        with torch.inference_mode():
            y = self._model(x * 2 - 1, **self._noise)
            y = y[0] if isinstance(y, tuple | list) else y
            y = ((y.float() + 1) / 2).clamp_(0, 1)
        return y.permute(0, 2, 3, 1).cpu().numpy()


class FaceEnhancer:
    """Faces found in low-resolution pictures restored in their upscales (module
    docstring): ``apply(sources, upscaled)``."""

    def __init__(
        self, detector: FaceDetector, restorer: FaceRestorer, strength: float = 1.0
    ) -> None:
        self.detector, self.restorer, self.strength = detector, restorer, strength

    @classmethod
    def load(cls, checkpoint: str, strength: float = 1.0, device: str = "cpu") -> FaceEnhancer:
        restorer = FaceRestorer.load(checkpoint, device)  # refused before the detector loads
        return cls(FaceDetector(device), restorer, strength)

    def apply(self, sources: np.ndarray, upscaled: np.ndarray) -> np.ndarray:
        """``upscaled`` (NHWC, RGB) with the faces of ``sources`` (its pictures before the
        upscale) restored; the same array when no picture holds a face."""
        out = upscaled
        for i, (source, picture) in enumerate(zip(sources, upscaled, strict=True)):
            faces = self.detector.find(source)
            if faces:
                if out is upscaled:
                    out = upscaled.copy()
                out[i] = self.restored(picture, source.shape[:2], [f.landmarks for f in faces])
        return out

    def restored(
        self, picture: np.ndarray, source_size: tuple[int, int], landmarks: Sequence[np.ndarray]
    ) -> np.ndarray:
        """``picture`` (an upscale of a ``source_size`` picture) with the faces whose
        ``landmarks`` (in the source's pixels) are given restored."""
        height, width = picture.shape[:2]
        scale = (width / source_size[1], height / source_size[0])
        top = peak(picture.dtype)
        matrices = [alignment(points, scale) for points in landmarks]
        crops = (
            np.stack(
                [
                    cv2.warpAffine(
                        picture,
                        m,
                        (FACE_SIZE, FACE_SIZE),
                        flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT_101,
                    )  # fmt: skip
                    for m in matrices
                ]
            ).astype(np.float32)
            / top
        )
        made = self.restorer.restore(crops)
        faces_out = self.strength * made + (1 - self.strength) * crops
        out = picture.astype(np.float32)
        for matrix, face in zip(matrices, faces_out, strict=True):
            inverse = cv2.invertAffineTransform(matrix)
            back = cv2.warpAffine(face * top, inverse, (width, height), flags=cv2.INTER_LINEAR)
            mask = paste_mask(matrix, height, width)[..., None]
            out = mask * back + (1 - mask) * out
        return np.clip(np.rint(out), 0, top).astype(picture.dtype)
