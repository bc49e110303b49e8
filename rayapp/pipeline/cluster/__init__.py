"""The cluster a job runs on: joining Ray (or starting a local one) only when there is work,
what a node has, how its CPUs are shared between replicas and their encoders, and the
memory a replica's process keeps between chunks."""

from __future__ import annotations

from rayapp.pipeline.cluster._memory import without_huge_pages
from rayapp.pipeline.cluster._ray import (
    check_shared,
    ensure_ray,
    load_replica,
    node_resources,
    replica_items,
    replica_node,
    replica_pool_args,
    submission_id,
)
from rayapp.pipeline.cluster._sizing import (
    encoder_pool,
    job_lanes,
    replica_cpus,
    replica_threads,
    torch_threads,
)

__all__ = [
    "check_shared",
    "encoder_pool",
    "ensure_ray",
    "job_lanes",
    "load_replica",
    "node_resources",
    "replica_cpus",
    "replica_items",
    "replica_node",
    "replica_pool_args",
    "replica_threads",
    "submission_id",
    "torch_threads",
    "without_huge_pages",
]
