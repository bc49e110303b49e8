"""Rules said once: the pixel peak, PSNR, the output-format check, the evaluation's measures
and storage's error mapping each live in one place that every user asks."""

from __future__ import annotations

import ast
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from rayapp import quality, storage
from rayapp.errors import ConfigError, InputImageError, StorageError, UnsupportedFormatError
from rayapp.image_formats import IMAGE_FORMATS, output_format
from rayapp.images import check_output_format, encode_image
from rayapp.pipeline.evaluate._report import MEASURES, EvaluationRow, SummaryRow
from rayapp.resize import Downscaler
from rayapp.testing.metrics import psnr

ROOT = Path(__file__).resolve().parents[2]


def test_peak_is_the_full_pixel_of_uint8_and_uint16_only() -> None:
    assert (quality.peak(np.uint8), quality.peak(np.dtype("uint16"))) == (255.0, 65535.0)
    with pytest.raises(InputImageError, match="Expected uint8 or uint16 pixels, but got float32"):
        quality.peak(np.float32)
    with pytest.raises(InputImageError, match="int32"):
        Downscaler(2).upscale_batch(np.zeros((1, 4, 4, 3), np.int32))


def test_whole_clip_psnr_is_quality_psnr_over_every_pixel() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (3, 8, 10, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-6, 7, a.shape), 0, 255).astype(np.uint8)
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-5)
    assert psnr(a[1], b[1]) == pytest.approx(quality.psnr(a[1], b[1])[0], abs=1e-12)
    assert psnr(a, a) == math.inf
    with pytest.raises(InputImageError, match="one shape and dtype"):
        psnr(a, b[:, :4])


@pytest.mark.parametrize(
    ("image", "fmt", "message"),
    [
        (np.zeros((4, 4, 3), np.uint8), "gif", "Unsupported output format 'gif'"),
        (np.zeros((4, 4, 3), np.uint16), "jpeg", "16-bit images can only be written as png"),
        (np.zeros((4, 4, 3), np.uint16), "webp", "16-bit images can only be written as png"),
        (np.zeros((4, 4, 4), np.uint8), "jpeg", "JPEG has no alpha channel"),
    ],
)
def test_one_output_format_check_with_one_error(image: np.ndarray, fmt: str, message: str) -> None:
    """The table says what each format holds; the library and Serve (a 422) ask it."""
    for check in (check_output_format, encode_image):
        with pytest.raises(UnsupportedFormatError, match=message):
            check(image, fmt)
    assert issubclass(UnsupportedFormatError, InputImageError)
    assert not issubclass(UnsupportedFormatError, ConfigError)
    assert (UnsupportedFormatError.http_status, UnsupportedFormatError.code) == (
        422,
        "invalid_parameter",
    )


def test_every_format_writes_what_its_row_says_it_holds() -> None:
    for f in IMAGE_FORMATS.values():
        for bits, dtype in ((8, np.uint8), (16, np.uint16)):
            for channels in (3, 4):
                image = np.full((6, 6, channels), 9, dtype)
                if bits in f.bits and (channels == 3 or f.alpha):
                    assert output_format(f.name, bits=bits, alpha=channels == 4) is f
                    assert f.matches(encode_image(image, f.name))
                else:
                    with pytest.raises(UnsupportedFormatError):
                        encode_image(image, f.name)


def test_the_evaluation_s_measure_columns_come_from_its_measures_table() -> None:
    names = [m.name for m in MEASURES]
    row = [f.name for f in fields(EvaluationRow)]
    summary = [f.name for f in fields(SummaryRow)]
    start = row.index(names[0])
    assert row[start : start + len(names)] == names
    assert summary[summary.index(names[0]) :][: len(names)] == names
    assert [m.heading() for m in MEASURES] == ["PSNR (dB)", "PSNR-Y (dB)", "SSIM", "SSIM-Y",
                                               "MS-SSIM"]  # fmt: skip


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names
    }


def test_the_evaluation_modules_import_one_way() -> None:
    pipeline = ROOT / "rayapp" / "pipeline"
    assert "rayapp.pipeline.evaluate._report" in _imports(pipeline / "evaluate" / "_job.py")
    assert "rayapp.pipeline.evaluate._job" not in _imports(pipeline / "evaluate" / "_report.py")
    assert not any("._" in m for m in _imports(ROOT / "jobs" / "evaluate.py"))


def test_storage_maps_os_errors_once(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.png")
    for call in (storage.open_input, storage.file_size, storage.read_bytes):
        with pytest.raises(StorageError, match=f"Input not found: {missing}$") as caught:
            call(missing)
        assert isinstance(caught.value.__cause__, FileNotFoundError)
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(StorageError, match="Cannot write under .*is not a folder"):
        storage.check_writable(str(tmp_path / "file" / "out"))
    with pytest.raises(StorageError, match=r"Cannot open .*: \[Errno 21\]"):
        storage.open_input(str(tmp_path))
