"""The evaluation job on a local Ray: generated and bundled originals in S3 (moto on
loopback), every image x scale x model in the CSV with its bytes as stored, the HTML report
with its plot, the measures checked against scikit-image, and the command line's errors."""

from __future__ import annotations

import base64
import csv
import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rayapp import storage
from rayapp.config import EvaluateJobConfig, ReplicaConfig, UpscaleConfig
from rayapp.image_formats import format_for_path
from rayapp.images import decode_image, encode_image
from rayapp.pipeline import run_evaluation
from rayapp.resize import resize_image
from rayapp.upscaler import Upscaler

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ASTRONAUT = ROOT / "rayapp" / "data" / "astronaut.png"  # the bundled photograph, 192x144
MODEL = "realesr-animevideov3"
RNG = np.random.default_rng(11)


def _picture(h: int, w: int, c: int = 3) -> np.ndarray:
    """Smooth shapes with a little noise: compresses like a picture, not like noise."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * x + k) * np.cos(4 * y - k) for k in range(c)], axis=-1)
    return ((0.45 * base + 0.5 + 0.03 * RNG.random((h, w, c))) * 255).clip(0, 255).astype(np.uint8)


# relative name -> encoded bytes: generated pictures in each stored format, and the photograph
ORIGINALS = {
    "astronaut.png": ASTRONAUT.read_bytes(),
    "gen/scene.jpg": encode_image(_picture(38, 52), "jpeg"),
    "gen/alpha.webp": encode_image(_picture(30, 34, 4), "webp"),
    "gen/deeper/gray.png": encode_image(_picture(27, 33, 1)[..., 0], "png"),
}
BROKEN = "gen/broken.png"


def _csv_rows(uri: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(storage.read_bytes(uri).decode())))


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.evaluate", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def evaluated(
    ray_local: str, s3_server: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, subprocess.CompletedProcess[str]]:
    bucket = "s3://evaluate-job"
    fs, _ = storage.filesystem(bucket)
    fs.mkdir("evaluate-job")
    for name, data in ORIGINALS.items():
        storage.write_bytes(f"{bucket}/originals/{name}", data)
    storage.write_bytes(f"{bucket}/originals/{BROKEN}", b"\x89PNG\r\n\x1a\n not really")
    done = _run_cli(
        "--input", f"{bucket}/originals/", "--output", f"{bucket}/evaluation/",
        "--scales", "2,4", "--models", f"{MODEL},bicubic", "--precision", "fp32",
        "--max-replicas", "1",
        env={"RAY_ADDRESS": ray_local},
    )  # fmt: skip
    return bucket, done


def test_every_image_scale_and_model_is_one_row_with_its_bytes_as_stored(
    evaluated: tuple[str, subprocess.CompletedProcess[str]],
) -> None:
    bucket, done = evaluated
    assert done.returncode == 1, done.stderr  # the broken original
    rows = _csv_rows(f"{bucket}/evaluation/evaluation.csv")
    names = sorted([*ORIGINALS, BROKEN])
    assert [(r["name"], r["scale"], r["model"]) for r in rows] == [
        (n, s, m) for n in names for s in ("2.0", "4.0") for m in (MODEL, "bicubic")
    ]
    for r in rows:
        if r["name"] == BROKEN:
            assert r["error"] == "Cannot decode image: not a PNG, JPEG or WebP image"
            assert math.isnan(float(r["psnr"]))
            continue
        original = ORIGINALS[r["name"]]
        arr = decode_image(original)
        h, w, scale = arr.shape[0], arr.shape[1], float(r["scale"])
        small_uri = f"{bucket}/evaluation/small/x{scale:g}/{r['name']}"
        stored = storage.read_bytes(small_uri)
        assert r["error"] == ""
        assert r["small"] == small_uri
        assert r["format"] == format_for_path(r["name"])
        assert (int(r["width"]), int(r["height"])) == (w, h)
        assert int(r["original_bytes"]) == len(original)
        assert int(r["stored_bytes"]) == len(stored)
        assert float(r["saved_ratio"]) == pytest.approx(1 - len(stored) / len(original), abs=1e-12)
        small = decode_image(stored)
        assert small.shape == (round(h / scale), round(w / scale), *arr.shape[2:])
        assert (int(r["small_width"]), int(r["small_height"])) == small.shape[1::-1]
        assert 15 < float(r["psnr"]) < 60 and 0 < float(r["ssim"]) <= 1, r
    # MS-SSIM needs 161 pixels a side: the photograph has 144 rows, so no image here has it
    assert {r["ms_ssim"] for r in rows} == {"nan"}


def test_the_command_prints_the_summary_and_lists_the_broken_original_once(
    evaluated: tuple[str, subprocess.CompletedProcess[str]],
) -> None:
    bucket, done = evaluated
    lines = done.stdout.splitlines()  # Ray Data logs its progress there too
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("model ")) :]
    assert table[0].split() == ["model", "scale", "images", "saved", "PSNR-Y", "SSIM-Y"]
    assert [line.split()[:3] for line in table[1:5]] == [
        [MODEL, "x2", "4"], ["bicubic", "x2", "4"], [MODEL, "x4", "4"], ["bicubic", "x4", "4"]
    ]  # fmt: skip
    assert table[5].startswith("5 images x 2 scales x 2 models: 20 rows, 4 failed -> ")
    failed = [line for line in done.stderr.splitlines() if line.startswith("failed: ")]
    assert failed == [
        f"failed: {BROKEN} (4 rows): Cannot decode image: not a PNG, JPEG or WebP image"
    ]


def test_the_html_report_has_the_plot_and_a_summary_row_per_model_and_scale(
    evaluated: tuple[str, subprocess.CompletedProcess[str]],
) -> None:
    bucket, _ = evaluated
    page = storage.read_bytes(f"{bucket}/evaluation/evaluation.html").decode()
    [png] = re.findall(r'<img id="plot"[^>]*src="data:image/png;base64,([^"]+)"', page)
    plot = decode_image(base64.b64decode(png))
    assert plot.shape[0] > 300 and plot.shape[1] > 500
    assert len(np.unique(plot.reshape(-1, plot.shape[-1]), axis=0)) > 50  # drawn, not blank
    summary = page[page.index('<table id="summary">') : page.index("</table>")]
    cells = [re.findall(r"<td>([^<]*)</td>", tr) for tr in summary.split("<tr>")[2:]]
    assert [c[:4] for c in cells] == [
        [MODEL, "x2", "4", "1"], ["bicubic", "x2", "4", "1"],
        [MODEL, "x4", "4", "1"], ["bicubic", "x4", "4", "1"],
    ]  # fmt: skip
    rows = _csv_rows(f"{bucket}/evaluation/evaluation.csv")
    x4 = [r for r in rows if r["scale"] == "4.0" and r["model"] == MODEL and not r["error"]]
    saved = 1 - sum(int(r["stored_bytes"]) for r in x4) / sum(int(r["original_bytes"]) for r in x4)
    assert cells[2][4] == f"{100 * saved:.1f} %"
    assert f"{BROKEN} (4 rows)" in page


def test_measures_are_scikit_image_s_on_the_kept_upscaled_images(
    ray_local: str, tmp_path: Path
) -> None:
    """PNG throughout (lossless): the kept upscaled images are exactly what was measured."""
    original = _picture(44, 60)
    storage.write_bytes(str(tmp_path / "in" / "pic.png"), encode_image(original, "png"))
    config = EvaluateJobConfig(
        input=str(tmp_path / "in"),
        output=str(tmp_path / "out"),
        models=(MODEL, "bicubic"),
        scales=(2.0, 3.0),
        upscale=UpscaleConfig(device="cpu", precision="fp32"),
        replicas=ReplicaConfig(max_replicas=1),
        keep_upscaled=True,
    )
    report = run_evaluation(config)
    assert [(r.scale, r.model) for r in report.rows] == [
        (2.0, MODEL), (2.0, "bicubic"), (3.0, MODEL), (3.0, "bicubic")
    ]  # fmt: skip
    reference = Upscaler.from_config(UpscaleConfig(device="cpu", precision="fp32"))
    for r in report.rows:
        small = decode_image((tmp_path / f"out/small/x{r.scale:g}/pic.png").read_bytes())
        assert small.shape == (round(44 / r.scale), round(60 / r.scale), 3)
        kept = tmp_path / f"out/upscaled/{r.model}/x{r.scale:g}/pic.png"
        restored = decode_image(kept.read_bytes())
        assert restored.shape == original.shape  # exactly the original's size
        if r.model == "bicubic":
            np.testing.assert_array_equal(restored, resize_image(small, (44, 60)))
        else:
            expected = reference.upscale(small, size=(44, 60)).astype(int)
            assert np.abs(restored.astype(int) - expected).max() <= 1
        assert r.psnr == pytest.approx(peak_signal_noise_ratio(original, restored), abs=1e-4)
        full = structural_similarity(
            original, restored, channel_axis=2, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, data_range=255,
        )  # fmt: skip
        assert r.ssim == pytest.approx(full, abs=1e-3)


def test_cli_refuses_bad_scales_models_and_options_in_one_line(tmp_path: Path) -> None:
    cases = {
        ("--scales", "1,2"): "evaluate: error: scales: each scale must lie in (1, 16], got 1.0",
        ("--scales", "2,2"): "evaluate: error: scales: scales are listed twice: (2.0, 2.0)",
        ("--models", "no-such-model"): "evaluate: error: ",
        ("--outscale", "2"): "evaluate: error: unrecognized arguments: --outscale 2",
    }
    for extra, first in cases.items():
        done = _run_cli("--input", str(tmp_path), "--output", str(tmp_path / "o"), *extra)
        assert done.returncode == 2, (extra, done.stderr)
        [line] = done.stderr.splitlines()
        assert line.startswith(first), (extra, line)
    done = _run_cli("--input", str(tmp_path / "none"), "--output", str(tmp_path / "o"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"evaluate: error: Input prefix not found: {tmp_path}/none"]
