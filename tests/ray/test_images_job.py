"""The images job on a local Ray against a real S3 server: prefix to prefix, idempotent
reruns, bad images among good ones, and the command line's exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rayapp import storage
from rayapp.config import ImagesJobConfig, ReplicaConfig, UpscaleConfig
from rayapp.image_formats import format_for_path
from rayapp.images import decode_image, encode_image
from rayapp.pipeline import ImagesJobReport, run_images_job
from rayapp.upscaler import Upscaler

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
UPSCALE = UpscaleConfig(outscale=2, device="cpu")
REPLICAS = ReplicaConfig(min_replicas=1, max_replicas=2, num_cpus_per_replica=0.75)
RNG = np.random.default_rng(5)


def _image(h: int, w: int, c: int = 3, dtype: type = np.uint8) -> np.ndarray:
    """A smooth gradient with some noise: like a picture, and it survives JPEG."""
    peak = np.iinfo(dtype).max
    ramp = np.linspace(0, 1, h * w * c).reshape(h, w, c)
    noisy = 0.7 * ramp + 0.3 * RNG.random((h, w, c))
    return (noisy * peak).astype(dtype)


# relative name -> array: nested names, upper-case suffix, every layout the job keeps
SOURCES = {
    "top.png": _image(8, 12),
    "pic.webp": _image(10, 8),
    "Nested/deeper/photo.JPG": _image(6, 10),
    "Nested/alpha.png": _image(8, 8, 4),
    "Nested/deep16.png": _image(8, 10, 3, np.uint16),
    "Nested/gray16.png": _image(6, 6, 1, np.uint16)[:, :, 0],
}


@pytest.fixture(scope="module")
def reference() -> Upscaler:
    return Upscaler.from_config(UPSCALE)


def _bucket(s3_server: dict[str, str], name: str) -> str:
    fs, _ = storage.filesystem(f"s3://{name}")
    if fs.exists(name):
        fs.rm(name, recursive=True)
    fs.mkdir(name)
    return f"s3://{name}"


def _etags(prefix: str) -> dict[str, str]:
    fs, path = storage.filesystem(prefix)
    fs.invalidate_cache(path)
    return {p: info["ETag"] for p, info in fs.find(path, detail=True).items()}


@pytest.fixture(scope="module")
def first_run(
    ray_local: str, s3_server: dict[str, str]
) -> tuple[str, ImagesJobConfig, ImagesJobReport]:
    bucket = _bucket(s3_server, "images-job")
    for name, arr in SOURCES.items():
        storage.write_bytes(f"{bucket}/lowres/{name}", encode_image(arr, format_for_path(name)))
    storage.write_bytes(f"{bucket}/lowres/Nested/README.txt", b"not an image: ignored")
    config = ImagesJobConfig(
        input=f"{bucket}/lowres/", output=f"{bucket}/hires/", upscale=UPSCALE, replicas=REPLICAS
    )
    return bucket, config, run_images_job(config)


def test_every_image_is_written_under_the_same_name_at_twice_the_size(
    first_run: tuple[str, ImagesJobConfig, ImagesJobReport],
) -> None:
    bucket, _, report = first_run
    assert report.summary() == "6 written, 0 skipped, 0 failed"
    assert [(w.uri, w.output, w.width, w.height) for w in report.written] == [
        (
            f"{bucket}/lowres/{name}",
            f"{bucket}/hires/{name}",
            SOURCES[name].shape[1] * 2,
            SOURCES[name].shape[0] * 2,
        )
        for name in sorted(SOURCES)
    ]
    assert sorted(_etags(f"{bucket}/hires/")) == sorted(
        f"images-job/hires/{name}" for name in SOURCES
    )


def test_outputs_are_the_library_upscale_of_each_input(
    first_run: tuple[str, ImagesJobConfig, ImagesJobReport], reference: Upscaler
) -> None:
    bucket, _, _ = first_run
    for name, arr in SOURCES.items():
        fmt = format_for_path(name)
        source = decode_image(storage.read_bytes(f"{bucket}/lowres/{name}"))
        expected = reference.upscale(source)
        data = storage.read_bytes(f"{bucket}/hires/{name}")
        written = decode_image(data)
        assert written.shape == (arr.shape[0] * 2, arr.shape[1] * 2, *arr.shape[2:]), name
        assert written.dtype == arr.dtype, name
        if fmt == "png":
            np.testing.assert_array_equal(written, expected, err_msg=name)
        else:  # same pixels into the same encoder: the same bytes
            assert data == encode_image(expected, fmt), name


def test_rgba_and_16_bit_pngs_keep_their_layout(
    first_run: tuple[str, ImagesJobConfig, ImagesJobReport],
) -> None:
    bucket, _, _ = first_run
    alpha = decode_image(storage.read_bytes(f"{bucket}/hires/Nested/alpha.png"))
    assert (alpha.shape, alpha.dtype) == ((16, 16, 4), np.uint8)
    assert alpha[:, :, 3].min() < alpha[:, :, 3].max()  # a real alpha channel, not opaque
    deep = decode_image(storage.read_bytes(f"{bucket}/hires/Nested/deep16.png"))
    assert (deep.shape, deep.dtype) == ((16, 20, 3), np.uint16)
    assert deep.max() > 255  # 16-bit values, not 8-bit ones widened
    gray = decode_image(storage.read_bytes(f"{bucket}/hires/Nested/gray16.png"))
    assert (gray.shape, gray.dtype) == ((12, 12), np.uint16)


def test_a_rerun_skips_every_image_and_rewrites_nothing(
    first_run: tuple[str, ImagesJobConfig, ImagesJobReport],
) -> None:
    bucket, config, _ = first_run
    before = _etags(f"{bucket}/hires/")
    report = run_images_job(config)
    assert report.summary() == "0 written, 6 skipped, 0 failed"
    assert [(s.uri, s.output) for s in report.skipped] == [
        (f"{bucket}/lowres/{name}", f"{bucket}/hires/{name}") for name in sorted(SOURCES)
    ]
    assert _etags(f"{bucket}/hires/") == before


def test_bad_images_are_reported_and_the_others_written(ray_local: str, s3_bucket: str) -> None:
    good = {"a.png": _image(8, 8), "sub/b.jpg": _image(8, 6)}
    for name, arr in good.items():
        storage.write_bytes(f"{s3_bucket}/in/{name}", encode_image(arr, format_for_path(name)))
    storage.write_bytes(f"{s3_bucket}/in/sub/corrupt.png", b"GIF89a: this is no png")
    storage.write_bytes(f"{s3_bucket}/in/large.webp", encode_image(_image(40, 40), "webp"))
    config = ImagesJobConfig(
        input=f"{s3_bucket}/in",
        output=f"{s3_bucket}/out",
        upscale=UPSCALE,
        replicas=ReplicaConfig(max_replicas=1),
        max_pixels=1000,  # the 40x40 image has 1600
    )
    report = run_images_job(config)
    assert report.summary() == "2 written, 0 skipped, 2 failed"
    assert [w.output for w in report.written] == [f"{s3_bucket}/out/{n}" for n in sorted(good)]
    assert [f.uri for f in report.failed] == [
        f"{s3_bucket}/in/large.webp",
        f"{s3_bucket}/in/sub/corrupt.png",
    ]
    assert report.failed[0].error == "Image is 40x40 = 1600 pixels; the limit is 1000"
    assert report.failed[1].error == "Cannot decode image: not a PNG, JPEG or WebP image"
    name = s3_bucket.removeprefix("s3://")
    assert sorted(_etags(f"{s3_bucket}/out/")) == [f"{name}/out/a.png", f"{name}/out/sub/b.jpg"]

    again = run_images_job(config)  # failed images are tried again, written ones skipped
    assert again.summary() == "0 written, 2 skipped, 2 failed"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.upscale_images", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_refuses_a_disallowed_scheme_in_one_line(tmp_path: Path) -> None:
    done = _cli("--input", "ftp://x/", "--output", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "upscale_images: error: URI scheme 'ftp' is not allowed in 'ftp://x/'; "
        "expected one of file, gcs, gs, memory, s3"
    ]


def test_cli_refuses_a_missing_input_prefix_in_one_line(s3_bucket: str) -> None:
    done = _cli("--input", f"{s3_bucket}/nothing-here/", "--output", f"{s3_bucket}/out/")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"upscale_images: error: Input prefix not found: {s3_bucket}/nothing-here/"
    ]
    assert "written" not in done.stdout


def test_cli_refuses_a_file_as_the_input_prefix_in_one_line(s3_bucket: str) -> None:
    """The images job takes a prefix (a directory): a single, empty file is refused as one."""
    storage.write_bytes(f"{s3_bucket}/empty.png", b"")
    done = _cli("--input", f"{s3_bucket}/empty.png", "--output", f"{s3_bucket}/out/")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"upscale_images: error: {s3_bucket}/empty.png is a file; expected a prefix "
        "(a directory of images)"
    ]


def test_cli_refuses_a_bad_option_in_one_line(tmp_path: Path) -> None:
    done = _cli("--input", str(tmp_path), "--output", str(tmp_path), "--format", "gif")
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("upscale_images: error: argument --format: invalid choice: 'gif'")


def test_cli_exits_1_and_lists_the_failed_images(ray_local: str, tmp_path: Path) -> None:
    storage.write_bytes(str(tmp_path / "in" / "ok.png"), encode_image(_image(8, 8), "png"))
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    done = _cli(
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "out"),
        "--outscale",
        "2",
        "--format",
        "webp",
        "--max-replicas",
        "1",
        env={"RAY_ADDRESS": ray_local},
    )
    assert done.returncode == 1, done.stderr
    assert "1 written, 0 skipped, 1 failed in " in done.stdout
    # The job's own lines: no Ray Data progress bars, nor its execution plan at the start.
    said = done.stdout + done.stderr
    assert "%|" not in said and "Execution plan" not in said and "Starting execution" not in said
    failed = [line for line in done.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1
    assert failed[0].startswith(f"failed: {tmp_path / 'in' / 'broken.jpg'}: Cannot decode image")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok.webp"]
    assert decode_image((tmp_path / "out" / "ok.webp").read_bytes()).shape == (16, 16, 3)
