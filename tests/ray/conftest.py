"""A local Ray for the tests of this tier: started after the S3 server, so that its workers
inherit the AWS environment that points at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def ray_local(s3_server: dict[str, str]) -> Iterator[str]:
    """``ray.init(num_cpus=2)`` for one test module; yields the cluster's GCS address."""
    import ray

    context = ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1"
    )
    try:
        yield context.address_info["gcs_address"]
    finally:
        ray.shutdown()
