"""Serve fixtures: the service (``serve_app``: our Serve app with a given config on a local
Ray on 127.0.0.1, its HTTP proxy on a free loopback port), a headless browser, and helpers
to make small test images. Each module stops only what it started."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rayapp.images import encode_image
from tests.ray_head import free_port, ray_head

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; Playwright never downloads its own
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    # Renderers started by the browser itself: once, beside another test's load, the zygote
    # spun with a dead child and no page ever came.
    "--no-zygote",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # gitignored


@dataclass(frozen=True)
class ServeCluster:
    url: str  # http://127.0.0.1:<port>


@contextlib.contextmanager
def serve_app(config: dict[str, Any], *, dashboard: bool = False) -> Iterator[ServeCluster]:
    """The service: ``serve.app.build_app(config)`` (a ``ServeConfig`` as a dict) run as the
    app "rayapp" at ``/`` on ``start_serve``; all of it stops after. Each module's ``service``
    fixture is one ``with`` of it; a fixture that also asks for ``s3_server`` starts Ray
    after the server, so the cluster's processes inherit the AWS environment naming it."""
    from ray import serve

    from serve.app import build_app

    with start_serve(dashboard=dashboard) as cluster:
        serve.run(build_app(config), name="rayapp", route_prefix="/")
        yield cluster


@contextlib.contextmanager
def start_serve(*, dashboard: bool) -> Iterator[ServeCluster]:
    """serve.start on loopback on a Ray of 2 CPUs; yields, then serve.shutdown, and the Ray
    goes. Without ``dashboard`` an embedded ``ray.init``. With it, a ``ray start --head``
    (``tests.ray_head``: every port free, no token) that this process joins: ``ray.init``
    cannot move the job agent off its default port, and two clusters on one machine would
    then send each other's job submissions to one agent."""
    import ray

    if ray.is_initialized():
        raise RuntimeError("a Ray is already initialised in this process")
    if not dashboard:
        ray.init(num_cpus=2, _node_ip_address="127.0.0.1", log_to_driver=False)
        with _serving() as cluster:
            yield cluster
        return
    with ray_head(num_cpus=2, auth=False) as head:
        ray.init(address=head.gcs_address, _node_ip_address="127.0.0.1", log_to_driver=False)
        with _serving() as cluster:
            yield cluster


@contextlib.contextmanager
def _serving() -> Iterator[ServeCluster]:
    """serve.start on a free loopback port of the Ray this process joined; both stop after."""
    import ray
    from ray import serve

    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        yield ServeCluster(f"http://127.0.0.1:{port}")
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()


@contextlib.contextmanager
def chromium_page(url: str, *, height: int) -> Iterator[Any]:
    """A headless Debian Chromium page at ``url`` (1100 px wide); the browser closes after.
    Screenshots go to ARTIFACTS."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": height})
            page.goto(url, timeout=30_000)
            yield page
        finally:
            browser.close()


def rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth HxWx3 uint8 test image with some texture (deterministic)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], axis=2)
    noise = rng.integers(0, 32, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def png(arr: np.ndarray) -> bytes:
    return encode_image(arr, "png")


@pytest.fixture
def images() -> dict[str, bytes]:
    """PNG, JPEG, RGBA PNG (varying alpha) and 16-bit PNG, each 8-16 px."""
    base = rgb(12, 16)
    alpha = np.linspace(0, 255, 12 * 16).reshape(12, 16, 1).astype(np.uint8)
    wide = (rgb(10, 14, seed=3).astype(np.uint16) * 257) + np.uint16(7)
    return {
        "png": png(base),
        "jpeg": encode_image(rgb(16, 16, seed=1), "jpeg"),
        "rgba": png(np.concatenate([rgb(12, 16, seed=2), alpha], axis=2)),
        "png16": encode_image(wide, "png"),
    }


@pytest.fixture
def job_env(s3_server: dict[str, str]) -> dict:
    """runtime_env of a submitted job: the S3 server's variables and our weights cache."""
    env = dict(s3_server)
    env.update({k: os.environ[k] for k in ("RAYAPP_CACHE_DIR", "RAYAPP_OFFLINE")})
    return {"env_vars": env}
