"""The Serve application builder: ``import_path: serve.app:build_app`` in serve/config.yaml.

``args:`` of the YAML (or the dict given to ``build_app``) is a ``rayapp.config.ServeConfig``;
every tunable of both deployments comes from it.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application
from ray.serve.config import AutoscalingConfig, BackpressureConfig

from rayapp import storage
from rayapp.config import ServeConfig
from rayapp.errors import ConfigError
from rayapp.models import get_spec
from serve.ingress import Ingress
from serve.model import ModelPool

__all__ = ["build_app"]


def build_app(args: dict[str, Any] | ServeConfig) -> Application:
    """``ServeConfig`` (or its dict) -> the Ingress bound to a ModelPool."""
    config = args if isinstance(args, ServeConfig) else ServeConfig.model_validate(args)
    _check(config)
    pool, ingress = config.pool, config.ingress
    scaling = pool.autoscaling
    model_pool = ModelPool.options(
        ray_actor_options={
            "num_cpus": pool.num_cpus_per_replica,
            "num_gpus": pool.num_gpus_per_replica,
        },
        max_ongoing_requests=pool.max_ongoing_requests,
        max_queued_requests=pool.max_queued_requests,
        backpressure_config=BackpressureConfig(
            status_code=503, retry_after_s=ingress.retry_after_s
        ),
        autoscaling_config=AutoscalingConfig(
            min_replicas=scaling.min_replicas,
            initial_replicas=max(scaling.min_replicas, 1),
            max_replicas=scaling.max_replicas,
            target_ongoing_requests=scaling.target_ongoing_requests,
            upscale_delay_s=scaling.upscale_delay_s,
            downscale_delay_s=scaling.downscale_delay_s,
        ),
    ).bind(pool)
    return Ingress.options(
        num_replicas=ingress.num_replicas,
        ray_actor_options={"num_cpus": ingress.num_cpus},
        max_ongoing_requests=ingress.max_ongoing_requests,
        max_queued_requests=ingress.max_queued_requests,
        backpressure_config=BackpressureConfig(
            status_code=503, retry_after_s=ingress.retry_after_s
        ),
    ).bind(model_pool, config)


def _check(config: ServeConfig) -> None:
    for name in config.pool.models:
        get_spec(name)  # UnknownModelError lists the registry
    scaling = config.pool.autoscaling
    if scaling.min_replicas > scaling.max_replicas:
        raise ConfigError(
            f"pool.autoscaling: min_replicas {scaling.min_replicas} > "
            f"max_replicas {scaling.max_replicas}"
        )
    if config.auth_token is not None and config.auth_token_env:
        raise ConfigError("Give auth_token or auth_token_env, not both")
    if config.store.prefix is not None:
        storage.check_scheme(config.store.prefix)
    if config.jobs.enabled and not config.jobs.allowed_prefixes:
        raise ConfigError("jobs.enabled needs jobs.allowed_prefixes (e.g. s3://bucket/videos/)")
