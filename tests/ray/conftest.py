"""A local Ray for the tests of this tier, shared by the modules that ask for it one after
another in a pytest process (see ``tests/conftest.py``: the first module of any other kind
stops it). Started after the S3 server, so that its workers inherit the AWS environment
that points at it."""

from __future__ import annotations

import pytest

from tests.conftest import SharedRay


@pytest.fixture(scope="module")
def ray_local(s3_server: dict[str, str], shared_ray: SharedRay) -> str:
    """``ray.init(num_cpus=2)``, or the one a module before this one left running; the
    cluster's GCS address."""
    return shared_ray.start()
