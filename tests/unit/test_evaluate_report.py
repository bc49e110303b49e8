"""The evaluation job's config rules and its summary arithmetic, on rows made by hand."""

from __future__ import annotations

import math

import pytest

from rayapp.config import EvaluateJobConfig, UpscaleConfig
from rayapp.pipeline import EvaluationRow
from rayapp.pipeline.evaluate._report import failures, summarise, to_csv


def _row(name: str, model: str, original: int, stored: int, psnr: float, error: str = ""):
    nan = math.nan
    return EvaluationRow(
        name=name, scale=2.0, model=model, width=8, height=8, small_width=4, small_height=4,
        format="png", original_bytes=original, stored_bytes=stored,
        saved_ratio=1 - stored / original if original else nan, psnr=psnr, psnr_y=psnr + 1,
        ssim=0.9, ssim_y=0.95, ms_ssim=nan, upscale_s=0.5, small="s", error=error,
    )  # fmt: skip


def test_summary_saves_over_bytes_and_averages_measured_rows() -> None:
    rows = [
        _row("a.png", "m", 1000, 100, 30.0),
        _row("b.png", "m", 3000, 1500, 20.0),
        _row("c.png", "m", 0, 0, math.nan, error="Cannot decode image"),
    ]
    [s] = summarise(rows)
    assert (s.model, s.scale, s.images, s.failed) == ("m", 2.0, 2, 1)
    assert (s.original_bytes, s.stored_bytes) == (4000, 1600)
    assert s.saved_ratio == pytest.approx(1 - 1600 / 4000)  # not the mean of 0.9 and 0.5
    assert (s.psnr, s.psnr_y, s.ssim) == (pytest.approx(25.0), pytest.approx(26.0), 0.9)
    assert math.isnan(s.ms_ssim)
    assert failures(rows) == [("c.png", "Cannot decode image", 1)]


def test_csv_has_a_header_and_one_line_per_row() -> None:
    lines = to_csv([_row("a,b.png", "m", 10, 5, 31.5)]).splitlines()
    assert lines[0].startswith("name,scale,model,width,height,small_width,small_height,format,")
    assert lines[1].startswith('"a,b.png",2.0,m,8,8,4,4,png,10,5,0.5,31.5,32.5,')


def test_models_and_scales_come_from_their_own_fields() -> None:
    with pytest.raises(ValueError, match="upscale.model is not used by the evaluation"):
        EvaluateJobConfig(input="i", output="o", upscale=UpscaleConfig(model="x"))
    with pytest.raises(ValueError, match=r"each scale must lie in \(1, 16\]"):
        EvaluateJobConfig(input="i", output="o", scales=(0.5,))
    config = EvaluateJobConfig(input="i", output="o", upscale=UpscaleConfig(device="cpu"))
    assert config.models == ("realesr-animevideov3", "bicubic")
    assert config.scales == (2.0, 4.0)
