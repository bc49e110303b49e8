"""The batch user's way in: ``ray job submit`` to a real Ray head refuses a submission
without the cluster's token (README's own ``ray job submit`` line runs in
tests/e2e/test_readme_commands.py).

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

import pytest

from tests.ray_head import Head, ray_head

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.ray]


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
