"""Store small, upscale on read, over real HTTP against Serve with the small copies in S3
(moto on loopback): a PUT stores the downscaled copy and its sidecar, a GET returns the
original's exact size (the library's pixels), ``raw=1`` the stored copy; hostile keys and
bodies get 4xx JSON and write nothing."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import requests

from rayapp import storage
from rayapp.config import UpscaleConfig
from rayapp.images import decode_image, encode_image
from rayapp.resize import resize_image
from rayapp.upscaler import Upscaler
from tests.e2e.conftest import ServeCluster, png, rgb, serve_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.ray]

MODEL = "realesr-animevideov3"
TOKEN = "objects-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BUCKET = "objects-store"
PREFIX = f"s3://{BUCKET}/small"


CONFIG = {
    "pool": {
        "models": [MODEL],
        "device": "cpu",
        "precision": "fp32",
        "num_cpus_per_replica": 1,
        "threads_per_replica": 1,
        "autoscaling": {"min_replicas": 1, "max_replicas": 1},
    },
    "ingress": {"num_cpus": 0.25},
    "limits": {
        "max_body_bytes": 100_000,
        "max_input_pixels": 6_000,
        "max_output_pixels": 5_000,
    },  # fmt: skip
    "store": {"prefix": PREFIX},
    "auth_token": TOKEN,
}


@pytest.fixture(scope="module")
def service(s3_server: dict[str, str]) -> Iterator[ServeCluster]:
    fs, _ = storage.filesystem(f"s3://{BUCKET}")
    fs.mkdir(BUCKET)
    with serve_app(CONFIG) as cluster:  # after the S3 server: Ray inherits its env
        yield cluster


def _put(service: ServeCluster, key: str, data: bytes, ctype: str = "image/png", **params):
    headers = {**AUTH, "Content-Type": ctype}
    url = f"{service.url}/v1/objects/{key}"
    return requests.put(url, data=data, params=params, headers=headers, timeout=60)


def _get(service: ServeCluster, key: str, headers: dict | None = None, **params):
    url, headers = f"{service.url}/v1/objects/{key}", AUTH if headers is None else headers
    return requests.get(url, params=params, headers=headers, timeout=60)


def _stored() -> dict[str, int]:
    fs, _ = storage.filesystem(PREFIX)
    fs.invalidate_cache()
    return {p: info["size"] for p, info in fs.find(f"{BUCKET}/small", detail=True).items()}


@pytest.fixture(scope="module")
def library() -> Upscaler:
    return Upscaler.from_config(UpscaleConfig(model=MODEL, device="cpu", precision="fp32"))


@pytest.mark.parametrize(
    ("key", "image", "fmt", "params", "stored_fmt"),
    [
        ("photos/a.png", rgb(40, 56), "png", {"scale": 2}, "png"),
        ("photos/odd-size.jpg", rgb(37, 50, seed=1), "jpeg", {"scale": 3}, "jpeg"),
        ("alpha.png", np.dstack([rgb(44, 44, seed=2), np.full((44, 44), 200, np.uint8)]), "png",
         {"format": "webp"}, "webp"),  # the store's default scale: 4
    ],
)  # fmt: skip
def test_put_stores_small_and_get_returns_the_original_size(
    service: ServeCluster,
    library: Upscaler,
    key: str,
    image: np.ndarray,
    fmt: str,
    params: dict,
    stored_fmt: str,
) -> None:
    body = encode_image(image, fmt)
    r = _put(service, key, body, f"image/{fmt}", **params)
    assert r.status_code == 201, r.text
    answer = r.json()
    small_bytes = storage.read_bytes(f"{PREFIX}/{key}")
    scale = params.get("scale", 4)
    h, w = image.shape[:2]
    assert answer == {
        "key": key,
        "width": w,
        "height": h,
        "format": fmt,
        "original_bytes": len(body),
        "scale": scale,
        "stored_width": round(w / scale),
        "stored_height": round(h / scale),
        "stored_format": stored_fmt,
        "stored_bytes": len(small_bytes),
        "saved_ratio": pytest.approx(1 - len(small_bytes) / len(body), abs=1e-12),
    }
    small = decode_image(small_bytes)
    assert small.shape == (round(h / scale), round(w / scale), image.shape[2])
    if stored_fmt == "png":  # lossless: exactly the antialiased bicubic downscale
        np.testing.assert_array_equal(small, resize_image(decode_image(body), small.shape[:2]))

    raw = _get(service, key, raw=1)
    assert raw.status_code == 200, raw.text
    assert raw.content == small_bytes
    assert raw.headers["content-type"] == f"image/{stored_fmt}"
    assert raw.headers["x-original-size"] == f"{w}x{h}"

    full = _get(service, key)
    assert full.status_code == 200, full.text
    assert full.headers["content-type"] == f"image/{fmt}"
    restored = decode_image(full.content)
    assert restored.shape == image.shape  # exactly the original's size and layout
    expected = library.upscale(small, size=(h, w))
    if fmt == "png":
        assert np.abs(restored.astype(int) - expected).max() <= 1
    else:
        assert np.abs(decode_image(encode_image(expected, fmt)).astype(int) - restored).max() <= 1


def test_get_names_a_missing_key_and_another_format(service: ServeCluster) -> None:
    r = _get(service, "never/stored.png")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "no_such_object"
    assert _put(service, "fmt.png", png(rgb(30, 30)), scale=2).status_code == 201
    r = _get(service, "fmt.png", format="jpeg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert decode_image(r.content).shape == (30, 30, 3)


def test_delete_removes_an_object_and_its_sidecar(service: ServeCluster) -> None:
    url = f"{service.url}/v1/objects/gone/soon.png"
    assert _put(service, "gone/soon.png", png(rgb(20, 20)), scale=2).status_code == 201
    assert requests.delete(url, timeout=30).status_code == 401  # the token rules it too
    r = requests.delete(url, headers=AUTH, timeout=30)
    assert r.status_code == 200 and r.json() == {"key": "gone/soon.png", "deleted": True}
    assert not any("gone/soon.png" in name for name in _stored())  # copy and sidecar
    assert _get(service, "gone/soon.png").status_code == 404
    again = requests.delete(url, headers=AUTH, timeout=30)
    assert again.status_code == 404 and again.json()["error"]["code"] == "no_such_object"
    bad = requests.delete(f"{service.url}/v1/objects/a/%2E%2E/b.png", headers=AUTH, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_key"


def _hostile(service: ServeCluster) -> list[tuple[str, requests.Response, int, str]]:
    good = png(rgb(20, 20))
    url = f"{service.url}/v1/objects"
    wide16 = encode_image(rgb(20, 20).astype(np.uint16) * 257, "png")
    rgba = png(np.dstack([rgb(20, 20), np.full((20, 20), 9, np.uint8)]))
    return [
        ("dot-dot key", _put(service, "%2E%2E/escape.png", good), 400, "invalid_key"),
        ("dot-dot inside", _put(service, "a/%2e%2e/%2e%2e/b.png", good), 400, "invalid_key"),
        ("absolute key", requests.put(f"{url}//etc/x.png", data=good, headers={
            **AUTH, "Content-Type": "image/png"}, timeout=30), 400, "invalid_key"),
        ("other bucket", _put(service, "s3:/other-bucket/x.png", good), 400, "invalid_key"),
        ("hidden file", _put(service, ".hidden.png", good), 400, "invalid_key"),
        ("sidecar key", _put(service, "a.png.rayapp.json", good), 400, "invalid_key"),
        ("space in key", _put(service, "a b.png", good), 400, "invalid_key"),
        ("backslash key", _put(service, "a%5C..%5Cb.png", good), 400, "invalid_key"),
        ("long key", _put(service, "k" * 600, good), 400, "invalid_key"),
        ("garbage body", _put(service, "g.png", b"\x13\x37" * 50), 415, "unsupported_image"),
        ("truncated png", _put(service, "t.png", good[:60]), 400, "undecodable_image"),
        ("empty body", _put(service, "e.png", b""), 400, "empty_body"),
        ("body over the limit", _put(service, "b.png", b"\x89PNG" + b"\0" * 150_000), 413,
         "payload_too_large"),
        ("text body", _put(service, "x.png", good, "text/plain"), 415, "unsupported_media_type"),
        ("over the input pixels", _put(service, "p.png", png(rgb(90, 90))), 413,
         "image_too_large"),
        ("over the output pixels", _put(service, "o.png", png(rgb(60, 90))), 413,
         "image_too_large"),
        ("scale 1", _put(service, "s.png", good, scale=1), 422, "invalid_parameter"),
        ("scale NaN", _put(service, "s.png", good, scale="NaN"), 422, "invalid_parameter"),
        ("scale 1000", _put(service, "s.png", good, scale=1000), 422, "invalid_parameter"),
        ("format gif", _put(service, "f.png", good, format="gif"), 422, "invalid_parameter"),
        ("16-bit as jpeg", _put(service, "w.png", wide16, format="jpeg"), 422,
         "invalid_parameter"),
        ("rgba as jpeg", _put(service, "r.png", rgba, format="jpeg"), 422, "invalid_parameter"),
        ("put without token", requests.put(f"{url}/n.png", data=good, timeout=30), 401,
         "unauthorized"),
        ("get with a wrong token", _get(service, "photos/a.png",
                                        headers={"Authorization": "Bearer nope"}), 401,
         "unauthorized"),
        ("get dot-dot key", _get(service, "x/%2E%2E/%2E%2E/secret"), 400, "invalid_key"),
        ("get unknown model", _get(service, "photos/a.png", model="/etc/passwd.pth"), 404,
         "unknown_model"),
    ]  # fmt: skip


def test_hostile_keys_and_bodies_get_json_4xx_and_write_nothing(service: ServeCluster) -> None:
    before = _stored()
    cases = _hostile(service)
    assert len(cases) == 26
    wrong = []
    for what, r, status, code in cases:
        body = r.json()
        if r.status_code != status or body.get("error", {}).get("code") != code:
            wrong.append((what, r.status_code, body))
    assert wrong == []
    assert _stored() == before
