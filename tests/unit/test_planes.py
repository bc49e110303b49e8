"""Frames handed to the encoder as its own 4:2:0 planes, converted where a GPU model runs:
the same pixels as the encoder's own conversion, the same chunk, asked only where it pays."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from rayapp.pipeline.stages import device_planes
from rayapp.pipeline.work._records import EncodeJob
from rayapp.testing import NearestUpscaler, SimulatedGpuUpscaler, frame_pattern
from rayapp.upscaler import Upscaler
from rayapp.video import (
    Colour,
    EncodeSettings,
    Yuv420,
    decode_segment,
    plan_segments,
    probe,
    yuv420_planes,
)
from rayapp.video._encode import ChunkEncoder

# (matrix, full range): BT.709 tv, BT.601 pc, BT.2020 tv, untagged (BT.601, as swscale).
PLANES = [Yuv420(1, False), Yuv420(5, True), Yuv420(9, False), Yuv420(2, False)]


def _swscale(rgb: np.ndarray, planes: Yuv420) -> np.ndarray:
    """What the chunk encoder makes of RGB frames itself (its conversion's arguments)."""
    return np.stack(
        [
            av.VideoFrame.from_ndarray(np.ascontiguousarray(image), "rgb24")
            .reformat(format="yuv420p", interpolation="AREA", **planes.swscale)
            .to_ndarray()
            for image in rgb
        ]
    )


def _frames(count: int, height: int, width: int) -> np.ndarray:
    return np.stack([frame_pattern(i, height, width, texture=True) for i in range(count)])


@pytest.mark.parametrize("planes", PLANES, ids=lambda p: f"matrix{p.matrix}-full{p.full_range}")
def test_the_models_planes_are_the_encoders_conversion_of_its_rgb(planes: Yuv420) -> None:
    """On any device (here the CPU) the model's frames converted in torch are within one
    level of swscale's conversion of the same frames (it rounds the float output once)."""
    upscaler = Upscaler.load("realesr-animevideov3", device="cpu", precision="fp32")
    frames = _frames(2, 24, 32)
    made = upscaler.upscale_batch_yuv420(frames, planes)
    reference = _swscale(upscaler.upscale_batch(frames), planes)
    assert made.shape == reference.shape == (2, 144, 128)
    difference = np.abs(made.astype(int) - reference)
    assert difference.max() == 1
    assert difference.mean() < 0.35


@pytest.mark.parametrize("planes", PLANES[:2], ids=["bt709-tv", "bt601-pc"])
def test_the_simulated_gpus_planes_are_exactly_its_rgb_converted(planes: Yuv420) -> None:
    upscaler = SimulatedGpuUpscaler(scale=4, frame_s=0.0)
    frames = _frames(3, 30, 40)
    made = upscaler.upscale_batch_yuv420(frames, planes)
    assert made.shape == (3, 180, 160)
    np.testing.assert_array_equal(made, _swscale(upscaler.upscale_batch(frames), planes))


@pytest.mark.parametrize("fixture", ["bframes_mkv", "vfr_mp4"])  # untagged; BT.709 tv
def test_a_decoded_frame_converts_back_to_its_own_planes(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    """The decode's RGB, converted as the encoder converts it, is the source's 4:2:0 planes
    again: luma exactly (but where RGB clips), chroma within a level. What a model leaves
    as it was reaches the encoder as it was."""
    uri = request.getfixturevalue(fixture)
    info = probe(uri)
    segment = plan_segments(info, 10)[0]
    decoded = np.stack([f.image for f in decode_segment(uri, segment)])
    with av.open(uri) as container:
        source = np.stack([f.to_ndarray() for f in container.decode(video=0)])
    again = _swscale(decoded, yuv420_planes("yuv420p", info.video.colour))
    height = decoded.shape[1]
    luma = again[:, :height].astype(int) - source[:, :height]
    assert (luma == 0).mean() > 0.99
    assert np.abs(again[:, height:].astype(int) - source[:, height:]).max() <= 1


def test_a_chunk_written_from_planes_holds_those_planes(bframes_mkv: str, tmp_path: Path) -> None:
    """Lossless x264 (crf 0): the chunk decodes to exactly the planes written, and to the
    same pixels as the chunk the encoder converted from the RGB frames."""
    source = probe(bframes_mkv).video
    planes = yuv420_planes("yuv420p", source.colour)
    assert planes is not None
    upscaler = SimulatedGpuUpscaler(scale=2, frame_s=0.0)
    frames = _frames(4, source.height, source.width)
    given = upscaler.upscale_batch_yuv420(frames, planes)
    rgb = upscaler.upscale_batch(frames)
    settings = EncodeSettings(codec="libx264", crf=0, preset="ultrafast")
    decoded = {}
    for name, images in (("planes", given), ("rgb", rgb)):
        uri = str(tmp_path / f"{name}.mp4")
        h, w = rgb.shape[1:3]
        with ChunkEncoder(uri, source, height=h, width=w, settings=settings) as enc:
            for i, image in enumerate(images):
                enc.write(image, frame_index=i, pts=i * 512)
        with av.open(uri) as chunk:
            decoded[name] = np.stack([f.to_ndarray() for f in chunk.decode(video=0)])
    np.testing.assert_array_equal(decoded["planes"], given)
    np.testing.assert_array_equal(decoded["planes"], decoded["rgb"])


def test_planes_are_asked_only_of_a_gpu_model_with_an_8_bit_420_encoder(bframes_mkv: str) -> None:
    source = probe(bframes_mkv).video
    job = EncodeJob(source, (2 * source.height, 2 * source.width), EncodeSettings(), "/tmp/w")
    gpu = SimulatedGpuUpscaler(scale=2)
    assert device_planes(gpu, job, np.dtype(np.uint8)) == Yuv420(source.colour.matrix, False)
    assert device_planes(NearestUpscaler(2), job, np.dtype(np.uint8)) is None  # on the CPU
    assert device_planes(gpu, job, np.dtype(np.uint16)) is None  # a 10-bit output
    assert yuv420_planes("yuv420p10le", source.colour) is None
    assert yuv420_planes("yuv444p", source.colour) is None
    assert yuv420_planes("yuv420p", Colour(matrix=7)) is None  # SMPTE 240M: the encoder's
    assert yuv420_planes("yuv420p", Colour(range=2, matrix=1)) == Yuv420(1, True)
