"""The images job without Ray: the replica stage called directly, and the planning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rayapp import storage
from rayapp.config import ImagesJobConfig, UpscaleConfig
from rayapp.errors import ConfigError, StorageError
from rayapp.images import decode_image, encode_image
from rayapp.pipeline.images._job import UpscaleImages, run_images_job
from rayapp.pipeline.images._plan import FailedImage, ImageTask, SkippedImage, plan_images
from rayapp.upscaler import Upscaler

pytestmark = pytest.mark.slow  # loads a real model

UPSCALE = UpscaleConfig(outscale=2, device="cpu")
RNG = np.random.default_rng(11)


def _image(h: int, w: int, c: int | None = 3, dtype: type = np.uint8) -> np.ndarray:
    peak = np.iinfo(dtype).max
    shape = (h, w) if c is None else (h, w, c)
    return (RNG.random(shape) * peak).astype(dtype)


def _put(uri: str, arr: np.ndarray, fmt: str = "png") -> bytes:
    data = encode_image(arr, fmt)
    storage.write_bytes(uri, data)
    return data


def _batch(tasks: list[ImageTask]) -> dict[str, np.ndarray]:
    return {
        "uri": np.asarray([t.uri for t in tasks], dtype=object),
        "output": np.asarray([t.output for t in tasks], dtype=object),
        "format": np.asarray([t.format for t in tasks], dtype=object),
    }


@pytest.fixture(scope="module")
def stage() -> UpscaleImages:
    return UpscaleImages(UPSCALE, max_pixels=600, threads=1)


@pytest.fixture(scope="module")
def reference() -> Upscaler:
    return Upscaler.from_config(UPSCALE)


def test_stage_writes_the_library_upscale(stage: UpscaleImages, reference: Upscaler) -> None:
    src = _image(6, 8)
    _put("memory://stage-ok/in/a.png", src)
    out = stage(
        _batch([ImageTask("memory://stage-ok/in/a.png", "memory://stage-ok/out/a.png", "png")])
    )
    assert {k: list(v) for k, v in out.items()} == {
        "uri": ["memory://stage-ok/in/a.png"],
        "status": ["written"],
        "output": ["memory://stage-ok/out/a.png"],
        "width": [16],
        "height": [12],
        "error": [""],
    }
    written = decode_image(storage.read_bytes("memory://stage-ok/out/a.png"))
    np.testing.assert_array_equal(written, reference.upscale(src))


def test_stage_reports_bad_images_and_goes_on(stage: UpscaleImages) -> None:
    root = "memory://stage-bad"
    _put(f"{root}/in/good.png", _image(8, 8))
    storage.write_bytes(f"{root}/in/corrupt.png", b"\x89PNG\r\n\x1a\n this is not a png")
    _put(f"{root}/in/large.png", _image(30, 30))  # 900 pixels, the stage allows 600
    names = ("corrupt", "good", "large", "missing")
    tasks = [ImageTask(f"{root}/in/{n}.png", f"{root}/out/{n}.png", "png") for n in names]
    out = stage(_batch(tasks))
    assert list(out["status"]) == ["failed", "written", "failed", "failed"]
    assert list(out["width"]) == [0, 16, 0, 0]
    assert out["error"][0].startswith("Cannot decode image")
    assert out["error"][1] == ""
    assert out["error"][2] == "Image is 30x30 = 900 pixels; the limit is 600"
    assert out["error"][3] == f"Input not found: {root}/in/missing.png"
    fs, _ = storage.filesystem(root)
    assert sorted(fs.find("/stage-bad/out")) == ["/stage-bad/out/good.png"]


def test_stage_keeps_rgba_gray_and_16_bit_layouts(
    stage: UpscaleImages, reference: Upscaler, tmp_path: Path
) -> None:
    images = {
        "rgba.png": _image(6, 5, 4),
        "gray.png": _image(7, 4, None),
        "deep.png": _image(5, 6, 3, np.uint16),
        "deepgray.png": _image(4, 4, None, np.uint16),
    }
    for name, arr in images.items():
        _put(str(tmp_path / "in" / name), arr)
    tasks = [ImageTask(str(tmp_path / "in" / n), str(tmp_path / "out" / n), "png") for n in images]
    out = stage(_batch(tasks))
    assert list(out["status"]) == ["written"] * 4
    for name, arr in images.items():
        written = decode_image((tmp_path / "out" / name).read_bytes())
        assert written.dtype == arr.dtype
        assert written.shape == (arr.shape[0] * 2, arr.shape[1] * 2, *arr.shape[2:])
        np.testing.assert_array_equal(written, reference.upscale(arr))


def test_stage_fails_a_layout_its_format_cannot_hold(stage: UpscaleImages, tmp_path: Path) -> None:
    _put(str(tmp_path / "rgba.png"), _image(4, 4, 4))
    task = ImageTask(str(tmp_path / "rgba.png"), str(tmp_path / "rgba.jpg"), "jpeg")
    out = stage(_batch([task]))
    assert list(out["status"]) == ["failed"]
    assert out["error"][0] == "JPEG has no alpha channel; write RGBA images as png or webp"
    assert not (tmp_path / "rgba.jpg").exists()


def _tree(root: str, names: list[str]) -> None:
    for name in names:
        storage.write_bytes(f"{root}/{name}", b"bytes are not read when planning")


def test_plan_maps_nested_names_and_skips_existing_outputs() -> None:
    root = "memory://plan-nested"
    _tree(
        root,
        [
            "in/a.png",
            "in/sub/B.JPG",
            "in/sub/deeper/c.jpeg",
            "in/d.WebP",
            "in/notes.txt",
            "in/noext",
            "out/sub/B.JPG",
        ],
    )
    plan = plan_images(ImagesJobConfig(input=f"{root}/in/", output=f"{root}/out"))
    assert plan.todo == (
        ImageTask("memory:///plan-nested/in/a.png", "memory:///plan-nested/out/a.png", "png"),
        ImageTask("memory:///plan-nested/in/d.WebP", "memory:///plan-nested/out/d.WebP", "webp"),
        ImageTask(
            "memory:///plan-nested/in/sub/deeper/c.jpeg",
            "memory:///plan-nested/out/sub/deeper/c.jpeg",
            "jpeg",
        ),
    )
    assert plan.skipped == (
        SkippedImage("memory:///plan-nested/in/sub/B.JPG", "memory:///plan-nested/out/sub/B.JPG"),
    )
    assert plan.failed == ()


def test_plan_changes_suffixes_with_the_format_and_refuses_collisions() -> None:
    root = "memory://plan-format"
    _tree(root, ["in/a.png", "in/a.jpg", "in/b.webp", "in/c.JPEG"])
    plan = plan_images(ImagesJobConfig(input=f"{root}/in", output=f"{root}/out", format="jpeg"))
    assert [(t.uri.rsplit("/", 1)[1], t.output.rsplit("/", 1)[1]) for t in plan.todo] == [
        ("a.jpg", "a.jpg"),
        ("b.webp", "b.jpg"),
        ("c.JPEG", "c.JPEG"),  # already JPEG: the name stays
    ]
    assert {t.format for t in plan.todo} == {"jpeg"}
    assert plan.failed == (
        FailedImage(
            "memory:///plan-format/in/a.png",
            "Same output memory:///plan-format/out/a.jpg as memory:///plan-format/in/a.jpg",
        ),
    )


def test_plan_leaves_out_an_output_prefix_inside_the_input(tmp_path: Path) -> None:
    for name in ("a.png", "hires/a.png", "hires/.rayapp-x1y2.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    plan = plan_images(ImagesJobConfig(input=str(tmp_path), output=str(tmp_path / "hires")))
    assert plan.todo == ()
    assert plan.skipped == (SkippedImage(str(tmp_path / "a.png"), str(tmp_path / "hires/a.png")),)


def test_plan_refuses_a_missing_input_prefix_a_file_and_output_equal_to_input(
    tmp_path: Path,
) -> None:
    with pytest.raises(StorageError, match=r"^Input prefix not found: memory://plan-none/in/$"):
        plan_images(ImagesJobConfig(input="memory://plan-none/in/", output="memory://x/out/"))
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(StorageError, match="is a file; expected a prefix"):
        plan_images(ImagesJobConfig(input=str(tmp_path / "a.png"), output=str(tmp_path / "o")))
    with pytest.raises(ConfigError, match="is the input prefix"):
        plan_images(ImagesJobConfig(input=str(tmp_path), output=f"{tmp_path}/"))
    with pytest.raises(StorageError, match="scheme 'ftp' is not allowed"):
        plan_images(ImagesJobConfig(input="ftp://x/in/", output=str(tmp_path)))


def test_an_empty_input_directory_is_an_empty_report(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    report = run_images_job(ImagesJobConfig(input=str(tmp_path / "in"), output=str(tmp_path)))
    assert (report.written, report.skipped, report.failed) == ((), (), ())
    assert report.summary() == "0 written, 0 skipped, 0 failed"


def test_a_job_with_nothing_left_needs_no_ray_and_memory_work_is_refused() -> None:
    root = "memory://job-done"
    _tree(root, ["in/a.png", "out/a.png"])
    report = run_images_job(ImagesJobConfig(input=f"{root}/in", output=f"{root}/out"))
    assert report.summary() == "0 written, 1 skipped, 0 failed"
    _tree(root, ["in/b.png"])
    with pytest.raises(ConfigError, match="memory:// lives in one process"):
        run_images_job(ImagesJobConfig(input=f"{root}/in", output=f"{root}/out"))
