"""The batch user's way in: ``ray job submit`` of jobs.upscale_video to a real Ray head.

A head started with ``ray start --head`` on loopback, token authentication on (a token of
our own, in a file named by ``RAY_AUTH_TOKEN_PATH``), the input and output on a real S3
server (moto) on loopback.
"""

from __future__ import annotations

import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.small_job import assert_whole_output, make_job, wrote_line
from tests.ray_head import Head, ray_head

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    with ray_head() as h:
        yield h


def test_submit_without_or_with_wrong_token_is_refused(head: Head, job_env: dict) -> None:
    entrypoint = [sys.executable, "-c", "print('never runs')"]
    missing = head.submit(job_env, entrypoint, token=None)
    assert missing.returncode != 0
    assert "Unauthorized: Missing authentication token" in missing.stderr, missing.stderr

    wrong = head.submit(job_env, entrypoint, token=secrets.token_hex(32))
    assert wrong.returncode != 0
    assert "Forbidden: Invalid authentication token" in wrong.stderr, wrong.stderr

    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{head.dashboard_url}/api/jobs/", timeout=10)
    assert e.value.code == 401
    # Asked with the token, the cluster knows of no job with that entrypoint.
    assert [j for j in head.api("jobs/") if "never runs" in j["entrypoint"]] == []


def test_submit_video_job_with_token(
    head: Head, job_env: dict, s3_bucket: str, tmp_path: Path
) -> None:
    src, out, entrypoint = make_job(
        s3_bucket, "--max-replicas", "2", "--num-cpus-per-replica", "0.5"
    )
    submission_id = f"rayapp-e2e-{secrets.token_hex(4)}"
    done = head.submit(job_env, entrypoint, submission_id=submission_id)
    logs = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, logs
    assert head.api(f"jobs/{submission_id}")["status"] == "SUCCEEDED", logs
    assert wrote_line(out) in done.stdout, logs
    assert_whole_output(src, out, tmp_path)
