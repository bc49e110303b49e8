"""The hostile-media corpus through ``python -m jobs.upscale_video`` on a local Ray, input
and output on S3 (the loopback moto server): each case works frame-exact or fails with its
one line and its exit code, and nothing is ever left at the output URI or its work prefix.
The entry point runs in this process (its ``main``), joined to the module's Ray."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs import upscale_video
from rayapp import storage
from rayapp.config import ImagesJobConfig, ReplicaConfig, UpscaleConfig
from rayapp.pipeline import run_images_job
from tests.hostile import IMAGE_CASES, make_case
from tests.hostile_check import CASES, assert_frame_exact, output_for, upload

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.mark.parametrize("name", list(CASES))
def test_ray_job_on_s3(
    name: str,
    tmp_path: Path,
    s3_bucket: str,
    ray_local: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES[name]
    local = make_case(case, tmp_path / "in")
    src = f"{s3_bucket}/in/{Path(local).name}"
    upload(local, src)
    out = f"{s3_bucket}/out/{output_for(local, tmp_path).name}"
    code = upscale_video.main(["--input", src, "--output", out, "--preset", "ultrafast"])
    err = capsys.readouterr().err
    if case.works:
        assert code == 0, err
        assert_frame_exact(local, out, tmp_path)
        return
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("upscale_video: error: ")
    assert re.search(case.message, lines[0]), lines[0]
    assert not storage.exists(out)
    assert not storage.exists(out + ".rayapp-work")


def test_images_job_on_the_image_cases(tmp_path: Path, s3_bucket: str, ray_local: str) -> None:
    """Every image case under one prefix: the ones that work are written, each other one is
    reported with its error line, and nothing is written for it."""
    for case in IMAGE_CASES:
        local = make_case(case, tmp_path / case.name)
        upload(local, f"{s3_bucket}/in/{case.name}/{Path(local).name}")
    config = ImagesJobConfig(
        input=f"{s3_bucket}/in",
        output=f"{s3_bucket}/out",
        upscale=UpscaleConfig(outscale=2, device="cpu"),
        replicas=ReplicaConfig(max_replicas=1),
    )
    report = run_images_job(config)
    written = sorted(w.output.split("/")[-2] for w in report.written)
    assert written == sorted(c.name for c in IMAGE_CASES if c.works)
    failed = {f.uri.split("/")[-2]: f.error for f in report.failed}
    assert sorted(failed) == sorted(c.name for c in IMAGE_CASES if not c.works)
    for case in IMAGE_CASES:
        if not case.works:
            assert re.search(case.message, failed[case.name]), (case.name, failed[case.name])
            assert not storage.exists(f"{s3_bucket}/out/{case.name}")
