"""Joining a Ray cluster, only when there is work for it."""

from __future__ import annotations

import json
import logging
import os

__all__ = ["FORWARDED_ENV", "ensure_ray"]

log = logging.getLogger(__name__)

# Forwarded to every Ray worker, so that the same command reaches the same object store
# from every node (AWS, an S3-compatible store, a local test server) and the same weights.
FORWARDED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "RAYAPP_CACHE_DIR",
    "RAYAPP_OFFLINE",
)


def ensure_ray() -> None:
    """Join the cluster named by ``RAY_ADDRESS`` (``ray job submit`` sets it), or start a
    local Ray when there is none. A caller that already ran ``ray.init`` keeps its own."""
    import ray

    if ray.is_initialized():
        return
    # Under `ray job submit` the job's runtime_env already reaches every worker, and
    # ray.init refuses a runtime_env that names the same variables a second time.
    job = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")
    taken = (job.get("runtime_env") or {}).get("env_vars") or {}
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ and k not in taken}
    runtime_env = {"env_vars": env} if env else None
    if os.environ.get("RAY_ADDRESS"):
        ray.init(runtime_env=runtime_env)
    else:  # a local embedded Ray: reachable from this machine only
        ray.init(runtime_env=runtime_env, _node_ip_address="127.0.0.1")
    log.info("connected to Ray: %s", ray.get_runtime_context().gcs_address)
