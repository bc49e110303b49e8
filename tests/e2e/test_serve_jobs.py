"""``/v1/jobs`` on a real Ray head with a dashboard: a tiny clip on a real S3 server (moto)
upscaled by the video job the service submits, its progress read back, hostile URIs and
job ids refused, a job stopped and forgotten, and the web page: a job's preview played while
it runs, stopped, resumed, its output and certificate shown; an archive followed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from rayapp import storage
from rayapp.errors import RayappError
from rayapp.testing import decode_video, make_test_video
from rayapp.video._probe import check_video_header
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, ServeCluster, chromium_page, serve_app
from tests.hostile import VIDEO_CASES, make_case
from tests.hostile_check import CASES, assert_frame_exact, output_for, upload
from tests.meddling import finished_chunks, strip_captions
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.ray]

FRAMES = 12


@pytest.fixture(scope="module")
def bucket(s3_server: dict[str, str]) -> str:
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server["AWS_ENDPOINT_URL"]})
    fs.mkdir("serve-jobs")
    return "s3://serve-jobs"


@pytest.fixture(scope="module")
def service(bucket: str) -> Iterator[ServeCluster]:
    """Started after the S3 server: the cluster's processes inherit its AWS environment."""
    config = {
        "pool": {
            "models": ["realesr-animevideov3"],
            "device": "cpu",
            "num_cpus_per_replica": 0.25,
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        },
        "ingress": {"num_cpus": 0.25},
        "jobs": {
            "enabled": True,
            "allowed_prefixes": [f"{bucket}/videos/"],
            "replicas": {"min_replicas": 1, "max_replicas": 1, "num_cpus_per_replica": 0.5},
        },
    }
    with serve_app(config, dashboard=True) as cluster:
        yield cluster


def _wait(service: ServeCluster, job_id: str, until: set[str], timeout_s: float) -> dict:
    """The job's state once its status is one of ``until``."""
    seen: list[dict] = []

    def settled() -> dict | None:
        seen.append(requests.get(f"{service.url}/v1/jobs/{job_id}", timeout=30).json())
        return seen[-1] if seen[-1]["status"] in until else None

    what = f"job {job_id} to be {' or '.join(sorted(until))}"
    return wait_until(settled, timeout_s, what, interval_s=1, state=lambda: seen[-3:])


def test_hostile_job_requests(service: ServeCluster, bucket: str) -> None:
    url = f"{service.url}/v1/jobs"
    ok_in, ok_out = f"{bucket}/videos/in.mp4", f"{bucket}/videos/out.mp4"
    cases = [
        ({"input": "file:///etc/passwd", "output": ok_out}, 422, "uri_not_allowed"),
        ({"input": ok_in, "output": "file:///tmp/out.mp4"}, 422, "uri_not_allowed"),
        ({"input": f"{bucket}/videos/../secret/in.mp4", "output": ok_out}, 422,
         "uri_not_allowed"),
        ({"input": f"{bucket}/videos/a/./../../x.mp4", "output": ok_out}, 422,
         "uri_not_allowed"),
        ({"input": "s3://other-bucket/videos/in.mp4", "output": ok_out}, 422,
         "uri_not_allowed"),
        ({"input": f"{bucket}/videos-evil/in.mp4", "output": ok_out}, 422, "uri_not_allowed"),
        ({"input": f"{bucket}/videos/in.mp4?versionId=1", "output": ok_out}, 422,
         "uri_not_allowed"),
        ({"input": "http://169.254.169.254/latest/", "output": ok_out}, 422, "uri_not_allowed"),
        ({"input": ok_in, "output": ok_out, "model": "/tmp/evil.pth"}, 404, "unknown_model"),
        ({"input": ok_in, "output": ok_out, "outscale": 0}, 422, "invalid_parameter"),
        ({"input": ok_in, "output": ok_out, "codec": "rm -rf"}, 422, "invalid_parameter"),
        ({"input": ok_in, "output": ok_out, "interpolate": 5}, 422, "invalid_parameter"),
        ({"input": ok_in, "output": ok_out, "interpolate": 2, "deflicker": True}, 422,
         "invalid_parameter"),
        ({"input": ok_in, "output": ok_out, "interpolator": "/tmp/evil.pkl"}, 422,
         "invalid_parameter"),
        ({"input": ok_in, "output": ok_out, "faces": True}, 422, "invalid_parameter"),
        ({"input": ok_in, "output": ok_out, "face_enhance": "/tmp/evil.pth"}, 422,
         "invalid_parameter"),
        ({"input": ok_in}, 422, "invalid_parameter"),
    ]  # fmt: skip
    for body, status, code in cases:
        r = requests.post(url, json=body, timeout=30)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), body
    r = requests.post(f"{service.url}/v1/upscale", params={"faces": "true"}, timeout=30,
                      data=b"\x89PNG", headers={"Content-Type": "image/png"})  # fmt: skip
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_parameter")
    assert "restores no faces" in r.json()["error"]["message"]
    for job_id in ("raysubmit_123", "rayapp-serve-0000000000000000", "..%2F..%2Fetc"):
        r = requests.get(f"{url}/{job_id}", timeout=30)
        assert r.headers["content-type"] == "application/json", (job_id, r.status_code, r.text)
        # An encoded "../" never names a job: no route (not_found) or no such job.
        assert r.status_code == 404, job_id
        assert r.json()["error"]["code"] in ("unknown_job", "not_found"), job_id
        r = requests.delete(f"{url}/{job_id}", timeout=30)
        assert r.status_code == 404, job_id


# The works cases submitted over HTTP (each a whole job on this 2-CPU cluster: all 16 took
# 116 s more); every case runs whole through the same entry point in
# tests/ray/test_hostile_media_job.py, and each other one is checked here to pass what only
# POST adds: the header check that would refuse it before any job.
WORKS_OVER_SERVE = ("vfr", "ten-audio-ten-subtitle")


def test_hostile_media_corpus(service: ServeCluster, bucket: str, tmp_path: Path) -> None:
    """Every failing case of the corpus, and a few that work: what the container's header
    tells is refused at POST with the error table's status and code; the rest fails its job
    with the one error line, or works frame-exact. Nothing is ever left at the output. Every
    other case that works passes POST's header check."""
    url, submitted = f"{service.url}/v1/jobs", {}
    for case in VIDEO_CASES:
        local = make_case(case, tmp_path / case.name)
        if case.works and case.name not in WORKS_OVER_SERVE:
            check_video_header(local)  # raises what POST would answer
            continue
        src = f"{bucket}/videos/hostile/{case.name}/{Path(local).name}"
        upload(local, src)
        out = f"{bucket}/videos/hostile-out/{case.name}{output_for(local, tmp_path).suffix}"
        r = requests.post(url, json={"input": src, "output": out}, timeout=60)
        try:
            check_video_header(local)
        except RayappError as e:  # the header tells: refused now, no job
            assert (r.status_code, r.json()["error"]["code"]) == (e.http_status, e.code), r.text
            assert re.search(case.message, r.json()["error"]["message"]), r.text
            assert type(e) is case.error
            continue
        assert r.status_code == 201, (case.name, r.text)
        submitted[case.name] = (r.json()["job_id"], local, out)
    assert len(submitted) >= 15
    for name, (job_id, local, out) in submitted.items():
        case, job = CASES[name], _wait(service, job_id, {"SUCCEEDED", "FAILED", "STOPPED"}, 300)
        if case.works:
            assert job["status"] == "SUCCEEDED", job
            assert_frame_exact(local, out, tmp_path)
            continue
        assert job["status"] == "FAILED", job
        assert re.search(case.message, job["error"]), (name, job["error"])
        assert "\n" not in job["error"] and "Traceback" not in job["error"]
        assert not storage.exists(out)


def test_video_job_runs_to_success(service: ServeCluster, bucket: str, tmp_path: Path) -> None:
    src, out = f"{bucket}/videos/in.mp4", f"{bucket}/videos/out.mp4"
    make_test_video(src, frames=FRAMES, width=32, height=24)
    body = {"input": src, "output": out, "outscale": 2, "segment_s": 0.25, "chunk_frames": 6}
    r = requests.post(f"{service.url}/v1/jobs", json=body, timeout=60)
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    job = _wait(service, job_id, {"SUCCEEDED", "FAILED", "STOPPED"}, timeout_s=420)
    assert job["status"] == "SUCCEEDED", job
    assert (job["frames_done"], job["frames_total"], job["percent"]) == (FRAMES, FRAMES, 100.0)
    assert job["fps"] > 0 and job["error"] is None
    report = job["report"]  # the certificate the job wrote beside its output
    assert report["integrity"]["ok"] and report["integrity"]["frames"]["output"] == FRAMES
    assert json.loads(storage.read_bytes(out + ".report.json")) == report
    local = tmp_path / "out.mp4"
    local.write_bytes(storage.read_bytes(out))
    got = decode_video(str(local))
    assert got.indices == list(range(FRAMES))


def test_a_dry_run_answers_the_plan_and_submits_nothing(service: ServeCluster, bucket: str) -> None:
    src, out = f"{bucket}/videos/plan-in.mp4", f"{bucket}/videos/plan-out.mp4"
    make_test_video(src, frames=FRAMES, width=32, height=24)
    body = {"input": src, "output": out, "outscale": 2, "segment_s": 0.25, "chunk_frames": 5,
            "dry_run": True, "deadline": "10m"}  # fmt: skip
    r = requests.post(f"{service.url}/v1/jobs", json=body, timeout=120)
    assert r.status_code == 200, r.text
    assert list(r.json()) == ["plan"]  # no job_id: nothing was submitted
    plan = r.json()["plan"]
    # 12 frames, one keyframe segment, chunks of at most 5: 4, 4, 4
    assert (plan["frames"], plan["segments"], plan["chunks"]) == (FRAMES, 1, 3)
    assert plan["output_size"] == [64, 48] and plan["replicas_for_deadline"] == 1
    assert plan["calibration"]["source"] == "measured on cpu"
    assert not storage.exists(out) and not storage.exists(out + ".rayapp-work")
    r = requests.post(f"{service.url}/v1/jobs", json=body | {"instance": "g5.xlarge"}, timeout=120)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].startswith("No stored timing for A10G (g5.xlarge)")


def test_video_job_is_stopped_then_forgotten_after_its_retention(
    service: ServeCluster, bucket: str
) -> None:
    """DELETE stops a running job. The sweep the routes run once a minute, run here with a
    retention of half a second, forgets the ended job once it has settled (Ray's job
    manager may still write its record a second or two after it stopped): its state and
    the job API's record, for good."""
    import time

    from rayapp.config import ServeJobsConfig
    from rayapp.pipeline.progress import read_job_state
    from serve.jobs import JobApi

    src, out = f"{bucket}/videos/stop-in.mp4", f"{bucket}/videos/stop-out.mp4"
    make_test_video(src, frames=FRAMES, width=32, height=24)
    r = requests.post(f"{service.url}/v1/jobs", json={"input": src, "output": out}, timeout=60)
    job_id = r.json()["job_id"]
    r = requests.delete(f"{service.url}/v1/jobs/{job_id}", timeout=60)
    assert r.status_code == 200 and r.json() == {"job_id": job_id, "stopped": True}, r.text
    job = _wait(service, job_id, {"STOPPED", "SUCCEEDED", "FAILED"}, timeout_s=120)
    assert job["status"] == "STOPPED", job
    assert not storage.exists(out)
    assert read_job_state(job_id)["output"] == out
    config = ServeJobsConfig(enabled=True, allowed_prefixes=[f"{bucket}/videos/"], retention_s=0.5)
    assert job_id not in JobApi(config.model_copy(update={"retention_s": 600.0})).sweep()
    wait_until(lambda: job_id in JobApi(config).sweep(), 30, "the sweep to forget the job")
    assert read_job_state(job_id) == {}
    time.sleep(3.0)  # what a late write of Ray's would have brought back by now
    gone = requests.get(f"{service.url}/v1/jobs/{job_id}", timeout=30)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "unknown_job"


def _check_report_view(page, report: dict) -> None:  # noqa: ANN001 - a Playwright page
    """The page's certificate view: the report the status route serves, as tables (a clip
    of 96 frames at 24 fps, with audio, cut into two scenes)."""
    assert page.is_visible("#job-report")
    checks = report["integrity"]
    audio = checks["audio"]["streams"]
    assert len(audio) == 1 and checks["subtitles"]["streams"] == []
    assert _rows(page, "#job-checks") == [
        ["Frames", "passed", "96 out of 96"],
        ["Timestamps (pts)", "passed", "every frame at its source pts"],
        ["Duration", "passed", "4.000 s (source 4.000 s)"],
        ["Audio streams", "passed", f"#0: {audio[0]['items']} packets, identical"],
        ["Subtitle streams", "passed", "none in the source"],
        ["Colour", "passed", checks["colour"]["output"]],
        ["Rotation", "passed", "0°"],
        ["Field order", "passed", "progressive (source progressive)"],
        ["Sample aspect ratio", "passed", "1:1"],
        ["Timecode", "passed", "none in the source"],
        ["Captions (608/708)", "passed", "96 of 96 captioned frames"],
        ["HDR10 metadata", "passed", "none in the source"],
    ]
    quality = _rows(page, "#job-quality")
    assert quality[0] == ["Sampled frames", str(len(report["quality"]["sampled_frames"]))]
    assert quality[3] == ["Outlier frames", "none"]
    # Two scenes, a chunk each: no seam inside a scene to step.
    assert quality[5:] == [
        ["Seams inside scenes", "0 (1 at scene cuts)"],
        ["Warping error at those seams", "none sampled"],
        ["Worst seam", "none"],
    ]
    assert page.text_content("#job-warnings") == "none"
    assert json.loads(page.text_content("#job-report-json")) == report


def _check_failed_certificate(page, job: dict, out: str, frames: int) -> None:  # noqa: ANN001
    """A job whose output lost the captions of its first chunk (``frames`` / 2 frames):
    its state (GET) and the page give the error and the certificate."""
    half = frames // 2
    assert job["status"] == "FAILED" and job["output"] is None, job
    failed_at = storage.join(storage.parent(finished_chunks(out)[0]), "failed.report.json")
    assert job["error"] == (
        f"{out} failed its integrity checks (captions) and was not written; see {failed_at}"
    ), job["error"]
    assert not storage.exists(out) and not storage.exists(out + ".report.json")
    report = job["report"]
    assert report == json.loads(storage.read_bytes(failed_at))
    assert report["integrity"]["ok"] is False
    assert report["integrity"]["captions"] == {"source": frames, "output": half, "ok": False}
    failed = [k for k, v in report["integrity"].items() if k != "ok" and not v["ok"]]
    assert failed == ["captions"]
    assert (report["speed"]["chunks"], report["speed"]["chunks_reused"]) == (2, 1)
    text = page.text_content("#job-status")
    assert text.startswith(f"{_job_id(page)}: FAILED") and text.endswith(job["error"]), text
    assert page.get_attribute("#job-status", "class") == "error"
    assert page.is_visible("#job-report")
    rows = {row[0]: row[1:] for row in _rows(page, "#job-checks")}
    assert rows.pop("Captions (608/708)") == ["FAILED", f"{half} of {frames} captioned frames"]
    assert {verdict for verdict, _ in rows.values()} == {"passed"}
    warnings = page.eval_on_selector_all("#job-warnings li", "(li) => li.map((l) => l.textContent)")
    assert warnings == [f"Captions (608/708): {half} of {frames} captioned frames"]
    assert _rows(page, "#job-quality") == [
        ["Not measured", "the output failed its integrity checks"]
    ]
    assert _rows(page, "#job-run")[-1] == ["Output", f"{out} (not written)"]
    assert json.loads(page.text_content("#job-report-json")) == report
    page.screenshot(path=str(ARTIFACTS / "serve-page-failed-certificate.png"), full_page=True)


def _job_id(page) -> str:  # noqa: ANN001 - a Playwright page
    """The id of the job the page follows, from its status line."""
    return page.text_content("#job-status").split(":")[0]


def _rows(page, table: str) -> list[list[str]]:
    """The text of each cell of the body of ``table``, row by row."""
    return page.evaluate(
        "(table) => Array.from(document.querySelectorAll(`${table} tbody tr`),"
        " (tr) => Array.from(tr.cells, (cell) => cell.textContent))",
        table,
    )


def _submit_and_follow(page, src: str, out: str) -> str:  # noqa: ANN001 - a Playwright page
    """Submits a job x2 from the page's form; the job's status line once it has ended."""
    page.fill("#job-input", src)
    page.fill("#job-output", out)
    page.fill("#job-outscale", "2")
    page.click("#job-form button[type=submit]")
    page.wait_for_function(
        "/SUCCEEDED|FAILED|STOPPED/.test(document.getElementById('job-status').textContent)",
        timeout=420_000,
        polling=1000,
    )
    return page.text_content("#job-status")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/setup.sh)")
def test_web_page_plays_the_preview_and_a_stopped_job_resumes(
    service: ServeCluster, bucket: str
) -> None:
    """Submitted from the page with Preview ticked: the video element plays the growing HLS
    preview (its currentTime advances) while the job still runs; Stop stops it (DELETE) with
    a chunk done. That chunk then loses its captions from outside the job (as a second
    writer of the work prefix would do), and the same job submitted again reuses it, makes
    the other chunk and fails its certificate: GET and the page give the error and the
    certificate, the captions check failed. With the chunk put back, the job submitted a
    third time reuses both chunks, plays the output (whose first fetch fails: the page tries
    again) and shows its certificate as tables."""
    frames = 96  # two scenes, a chunk each on the one replica, about 10 s each
    src, out = f"{bucket}/videos/preview-in.mp4", f"{bucket}/videos/preview-out.mp4"
    make_test_video(src, frames=frames, width=120, height=90, gop=8, captions=True, cuts=(48,))
    video = "document.getElementById('job-video')"
    status = "document.getElementById('job-status').textContent"
    with chromium_page(f"{service.url}/", height=700) as page:
        page.fill("#job-input", src)
        page.fill("#job-output", out)
        page.fill("#job-outscale", "2")
        page.check("#job-preview")
        page.click("#job-form button[type=submit]")
        page.wait_for_function(
            f"{video}.dataset.showing === 'preview' && {video}.currentTime > 0"
            f" && /RUNNING/.test({status})",
            timeout=420_000,
            polling=100,
        )
        first = page.text_content("#job-status")
        job_id = first.split(":")[0]
        for bad in ("../out.mp4", "index.m3u8.bak", "segment-1.ts"):
            r = requests.get(f"{service.url}/v1/jobs/{job_id}/preview/{bad}", timeout=30)
            assert r.status_code == 404, (bad, r.text)
        page.click("#job-stop")
        page.wait_for_function(f"/STOPPED|SUCCEEDED|FAILED/.test({status})", timeout=120_000)
        assert "STOPPED" in page.text_content("#job-status"), page.text_content("#job-status")
        assert not storage.exists(out)
        [chunk] = finished_chunks(out)
        kept = storage.read_bytes(chunk)
        strip_captions(chunk)
        page.click("#job-form button[type=submit]")  # the same job again
        page.wait_for_function(
            f"/^(?!{job_id}).*(STOPPED|SUCCEEDED|FAILED)/.test({status})", timeout=420_000
        )
        failed = requests.get(f"{service.url}/v1/jobs/{_job_id(page)}", timeout=30).json()
        _check_failed_certificate(page, failed, out, frames)
        storage.write_bytes(chunk, kept)
        # The output's first fetch fails (as a proxy's hiccup would): the page tries again.
        failed_once: list[str] = []

        def hiccup(route: Any) -> None:
            if failed_once:
                route.continue_()
            else:
                failed_once.append(route.request.url)
                route.fulfill(status=503, body="busy")

        page.route("**/v1/jobs/*/output", hiccup)
        page.click("#job-form button[type=submit]")  # and again, the chunk as it was made
        page.wait_for_function(f"{video}.dataset.showing === 'output'", timeout=420_000)
        assert len(failed_once) == 1, failed_once
        again = page.text_content("#job-status")
        assert "SUCCEEDED" in again and f"frames {frames}/{frames}" in again, again
        assert again.split(":")[0] != job_id
        assert page.evaluate("document.getElementById('job-progress').value") == 100
        page.screenshot(path=str(ARTIFACTS / "serve-page-preview.png"), full_page=True)
        rerun = again.split(":")[0]
        job = requests.get(f"{service.url}/v1/jobs/{rerun}", timeout=30).json()
        _check_report_view(page, job["report"])
    assert job["report"]["speed"]["chunks"] == 2
    assert job["report"]["speed"]["chunks_reused"] == 2  # the stopped job's, the failed one's
    r = requests.get(f"{service.url}/v1/jobs/{rerun}/output", timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.content == storage.read_bytes(out)
    assert decode_video(out).indices == list(range(frames))
    assert not storage.exists(f"{out}.preview/index.m3u8")  # gone with the work prefix
    r = requests.delete(f"{service.url}/v1/jobs/{job_id}", timeout=60)  # the stopped one
    assert r.status_code == 200 and r.json() == {"job_id": job_id, "forgotten": True}, r.text
    assert requests.get(f"{service.url}/v1/jobs/{job_id}", timeout=30).status_code == 404


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/setup.sh)")
def test_web_page_asks_for_the_frame_rate_chosen(service: ServeCluster, bucket: str) -> None:
    """The form's frame rate x3 goes in the job's request as interpolate 3 (none as the
    source); the service refuses this one (its output lies outside the allowed prefixes)
    and the page says why."""
    with chromium_page(f"{service.url}/", height=700) as page:
        page.fill("#job-input", f"{bucket}/videos/in.mp4")
        page.fill("#job-output", "file:///tmp/out.mp4")
        bodies = []
        for rate in ("3", "1"):
            page.select_option("#job-interpolate", rate)
            with page.expect_response("**/v1/jobs") as answer:
                page.click("#job-form button[type=submit]")
            assert answer.value.status == 422
            bodies.append(answer.value.request.post_data_json)
        assert [b.get("interpolate") for b in bodies] == [3, None]
        assert "must be a URI under one of" in page.text_content("#job-status")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/setup.sh)")
def test_web_page_follows_an_archive_job(service: ServeCluster, bucket: str) -> None:
    """A prefix in, a prefix out: two clips in two folders and a text file, submitted from
    the page, which follows the archive video by video; the API refuses an archive whose
    output is a file, or that holds no video."""
    archive, out = f"{bucket}/videos/archive/", f"{bucket}/videos/archive-hd/"
    for name in ("a/one.mp4", "b/two.mkv"):
        make_test_video(archive + name, frames=FRAMES, width=32, height=24)
    storage.write_bytes(archive + "notes.txt", b"not a video")
    r = requests.post(f"{service.url}/v1/jobs", json={"input": archive,
                      "output": f"{bucket}/videos/one-file.mp4"}, timeout=60)  # fmt: skip
    assert r.status_code == 422 and "must be a prefix too" in r.json()["error"]["message"]
    empty = f"{bucket}/videos/no-videos/"
    storage.write_bytes(empty + "notes.txt", b"not a video")
    r = requests.post(f"{service.url}/v1/jobs", json={"input": empty, "output": out}, timeout=60)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith(f"No video in {empty}")
    with chromium_page(f"{service.url}/", height=700) as page:
        text = _submit_and_follow(page, archive, out)
        assert "SUCCEEDED" in text, text
        assert "videos 2/2 (2 done, 0 skipped, 0 failed), frames 24" in text, text
        assert f"table {out}rayapp-archive.csv" in text, text
        assert page.evaluate("document.getElementById('job-progress').value") == 100
        job = requests.get(f"{service.url}/v1/jobs/{text.split(':')[0]}", timeout=30).json()
    assert (job["archive"]["done"], job["archive"]["failed"], job["percent"]) == (2, 0, 100.0)
    for name in ("a/one.mp4", "b/two.mkv"):
        assert decode_video(out + name).indices == list(range(FRAMES))
