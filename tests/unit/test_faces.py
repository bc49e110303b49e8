"""Faces made whole (``rayapp.faces``): MTCNN finds the faces of real photographs where a
person would put their landmarks; a GFPGAN network (spandrel's architecture, random weights,
saved as a checkpoint) changes only the pixels under the paste-back mask, a picture with no
face not at all; a checkpoint of another purpose is refused in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from rayapp.config import UpscaleConfig
from rayapp.errors import WeightsError
from rayapp.faces import FaceDetector, FaceEnhancer, FaceRestorer, alignment, paste_mask
from rayapp.testing import NearestUpscaler
from rayapp.testing.faces import random_gfpgan

ROOT = Path(__file__).resolve().parents[2]

# Where a person puts the five landmarks (eyes, nose tip, mouth corners; x, y in pixels),
# read off the photographs at 4x: Eileen Collins (skimage's astronaut), and the cameraman
# turned three-quarters (his far eye hidden: only the four points a person can place).
ASTRONAUT = [(205, 101), (246, 103), (225, 127), (204, 141), (244, 141)]
CAMERAMAN = {0: (234, 147), 2: (251, 167), 3: (231, 181), 4: (243, 182)}


def photographs() -> dict[str, np.ndarray]:
    return {
        "astronaut": skimage.data.astronaut(),
        "cameraman": np.repeat(skimage.data.camera()[..., None], 3, axis=2),
    }


def test_the_detector_finds_each_face_where_a_person_puts_its_landmarks() -> None:
    detector = FaceDetector()
    pictures = photographs()
    (astronaut,) = detector.find(pictures["astronaut"])
    (cameraman,) = detector.find(pictures["cameraman"])
    for face, points in ((astronaut, dict(enumerate(ASTRONAUT))), (cameraman, CAMERAMAN)):
        off = [float(np.hypot(*(face.landmarks[k] - p))) for k, p in points.items()]
        assert max(off) <= 0.05 * face.width, (off, face.width)
    assert 80 < astronaut.width < 95 and 50 < cameraman.width < 60
    # Where no one is: the coffee cup.
    assert detector.find(skimage.data.coffee()) == []


@pytest.fixture(scope="module")
def gfpgan(tmp_path_factory: pytest.TempPathFactory) -> str:
    return random_gfpgan(tmp_path_factory.mktemp("faces") / "GFPGANv1.4.pth")


def test_only_the_pixels_under_the_paste_mask_change(gfpgan: str) -> None:
    """The astronaut at 256 x 256 upscaled x2 (nearest): her face is restored (a random
    network: the pixels change), nothing outside the mask does, and restoring is the
    same every time (no noise drawn)."""
    source = cv2.resize(skimage.data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    upscaled = NearestUpscaler(2).upscale_batch(source[None])
    enhancer = FaceEnhancer(FaceDetector(), FaceRestorer.load(gfpgan))
    (face,) = enhancer.detector.find(source)
    out = enhancer.apply(source[None], upscaled)
    mask = paste_mask(alignment(face.landmarks, (2.0, 2.0)), 512, 512)
    changed = np.any(out[0] != upscaled[0], axis=-1)
    assert changed.sum() > 0.5 * (mask == 1).sum()  # most of the face
    assert not changed[mask == 0].any()
    again = enhancer.restored(upscaled[0], (256, 256), [face.landmarks])
    np.testing.assert_array_equal(again, out[0])


def test_a_picture_with_no_face_is_the_plain_upscale_byte_for_byte(gfpgan: str) -> None:
    from rayapp.upscaler import Upscaler

    coffee = cv2.resize(skimage.data.coffee(), (150, 100), interpolation=cv2.INTER_AREA)
    plain = Upscaler.from_config(UpscaleConfig(device="cpu"))
    faces = Upscaler.from_config(UpscaleConfig(device="cpu", face_enhance=gfpgan))
    assert faces.faces is not None
    made = faces.upscale(coffee)
    assert made.shape == (400, 600, 3)
    assert made.tobytes() == plain.upscale(coffee).tobytes()


def test_a_checkpoint_of_another_purpose_is_refused_in_one_line(tmp_path: Path) -> None:
    from rayapp.models import resolve

    sr = resolve("realesr-animevideov3").source()  # the registry's converted weights
    with pytest.raises(WeightsError, match=r"safetensors is a .*Compact network for SR, not face"):
        FaceRestorer.load(sr)
    picture = tmp_path / "in.png"
    cv2.imwrite(str(picture), cv2.resize(skimage.data.coffee(), (60, 40)))
    done = subprocess.run(
        [sys.executable, "-m", "rayapp.cli", "upscale", str(picture), str(tmp_path / "out.png"),
         "--face-enhance", sr],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "not face restoration" in done.stderr
    assert not (tmp_path / "out.png").exists()


def test_a_video_job_refuses_faces_with_the_stages_that_read_other_frames() -> None:
    from pydantic import ValidationError

    from rayapp.config import VideoJobConfig

    for other in ({"deflicker": True}, {"interpolate": 2}):
        with pytest.raises(ValidationError, match="--face-enhance does not go with --"):
            VideoJobConfig(
                input="in.mp4", output="out.mp4", upscale={"face_enhance": "g.pth"}, **other
            )


def test_a_moving_face_is_steadied_and_the_cut_never_changes_it(tmp_path: Path) -> None:
    """2 s at 24 frames/s of the astronaut's face moving (2, -0.5) px a frame, H.264: the
    detector's landmarks jitter (their centre's second difference over a pixel a frame);
    steadied, the centre moves at the clip's speed, its second difference under 0.5 px.
    Steadied on a chunk given the 3 frames on either side, a frame's landmarks are those
    of the whole clip."""
    import av

    from rayapp.faces import FACE_REACH, steady_landmarks
    from rayapp.testing.motion import scene_truth, write_clip

    clip = scene_truth([(skimage.data.astronaut(), 48, (-2.0, 0.5))], 150, 200)
    with av.open(write_clip(str(tmp_path / "face.mp4"), clip, fps=24)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    detector = FaceDetector()
    detections = [detector.find(frame) for frame in frames]
    assert [len(d) for d in detections] == [1] * 48 and detections[0][0].width > 40
    raw = np.array([d[0].landmarks.mean(axis=0) for d in detections])
    steady = np.array([s[0].mean(axis=0) for s in steady_landmarks(detections, range(48))])

    def second_difference(centres: np.ndarray) -> float:
        return float(np.abs(centres[2:] - 2 * centres[1:-1] + centres[:-2]).max())

    assert second_difference(raw) > 1.0 and second_difference(steady) < 0.5
    np.testing.assert_allclose(np.diff(steady, axis=0).mean(axis=0), (2.0, -0.5), atol=0.05)
    chunk = range(8, 16)
    around = detections[chunk.start - FACE_REACH : chunk.stop + FACE_REACH]
    alone = steady_landmarks(around, range(FACE_REACH, FACE_REACH + len(chunk)))
    for mine, whole in zip(alone, steady_landmarks(detections, chunk), strict=True):
        np.testing.assert_array_equal(mine[0], whole[0])


def test_the_plan_times_the_faces_beside_the_network(gfpgan: str, tmp_path: Path) -> None:
    """``rayapp plan`` of a job with faces: a GFPGAN face takes seconds on a CPU, and the
    plan says so, per frame, next to the network's milliseconds."""
    from rayapp.config import VideoJobConfig
    from rayapp.pipeline import estimate_video
    from rayapp.testing.motion import scene_truth, write_clip

    clip = scene_truth([(skimage.data.astronaut(), 6, (-2.0, 0.5))], 150, 200)
    source = write_clip(str(tmp_path / "face.mp4"), clip, fps=24)
    upscale = UpscaleConfig(device="cpu", outscale=2, face_enhance=gfpgan)
    config = VideoJobConfig(input=source, output=str(tmp_path / "out.mp4"), upscale=upscale)
    plan = estimate_video(config, samples=1, measure_frames=1)
    calibration = plan.calibration
    assert calibration.faces_s > max(0.5, 5 * calibration.model_s), calibration
    assert f"faces {calibration.faces_s * 1000:.1f} ms" in plan.describe()
