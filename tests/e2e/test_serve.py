"""The HTTP service on a real Serve: pixels equal to the library's, hostile input answered
with 4xx JSON (and the same replicas alive after), overload answered with 503 + Retry-After,
and concurrent requests batched into one forward."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from rayapp.config import UpscaleConfig
from rayapp.hardware import cpu_has_native_bf16
from rayapp.images import decode_image
from rayapp.quality import psnr
from rayapp.upscaler import Upscaler
from tests.e2e.conftest import (
    ARTIFACTS,
    CHROMIUM,
    ServeCluster,
    chromium_page,
    png,
    rgb,
    serve_app,
)
from tests.hostile import IMAGE_CASES, make_case, png_declaring

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.ray]

MODEL = "realesr-animevideov3"
TOKEN = "s3cret-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = {
    "pool": {
        "models": [MODEL, "realesrgan-x4plus-anime"],
        "device": "cpu",
        "num_cpus_per_replica": 1,
        "threads_per_replica": 1,
        "max_batch_size": 8,
        "batch_wait_timeout_s": 0.05,
        "max_ongoing_requests": 8,
        "max_queued_requests": 4,
        "autoscaling": {"min_replicas": 1, "max_replicas": 1},
    },
    "ingress": {"num_cpus": 0.25},
    "limits": {
        "max_body_bytes": 100_000,
        "max_input_pixels": 10_000,
        "max_output_pixels": 200_000,
        "auto_tile": 32,
    },
    "auth_token": TOKEN,
}


@pytest.fixture(scope="module")
def gfpgan(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A GFPGAN network with random weights as a checkpoint (tests/unit/test_faces.py)."""
    from rayapp.testing.faces import random_gfpgan

    return random_gfpgan(tmp_path_factory.mktemp("faces") / "GFPGANv1.4.pth")


@pytest.fixture(scope="module")
def service(gfpgan: str) -> Iterator[ServeCluster]:
    with serve_app({**CONFIG, "pool": {**CONFIG["pool"], "face_enhance": gfpgan}}) as cluster:
        yield cluster


def post_image(service: ServeCluster, data: bytes, ctype: str = "image/png", **params):
    return requests.post(
        f"{service.url}/v1/upscale",
        data=data,
        params=params,
        headers={**AUTH, "Content-Type": ctype},
        timeout=60,
    )


def reference(data: bytes, outscale: float | None = None, tile: int = 0) -> np.ndarray:
    config = UpscaleConfig(model=MODEL, device="cpu", outscale=outscale, tile=tile)
    return Upscaler.from_config(config).upscale(decode_image(data))


@pytest.mark.parametrize("kind", ["png", "jpeg", "rgba", "png16"])
def test_upscale_equals_library(service: ServeCluster, images: dict, kind: str) -> None:
    data = images[kind]
    r = post_image(service, data, "image/jpeg" if kind == "jpeg" else "image/png", outscale=2)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == ("image/jpeg" if kind == "jpeg" else "image/png")
    if kind == "jpeg":  # JPEG out is lossy: compare the pixels before encoding, via PNG
        r = post_image(service, data, "image/jpeg", outscale=2, format="png")
        assert r.headers["content-type"] == "image/png"
    got, want = decode_image(r.content), reference(data, 2)
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_faces_are_restored_when_asked(service: ServeCluster, gfpgan: str) -> None:
    """The astronaut's head at 96 x 90: with faces=true her face is restored (the pool's
    checkpoint: random weights, a visible change), as the library restores it (to a
    rounding: the replica runs one thread); without, the plain upscale, exactly."""
    import cv2
    import skimage.data

    head = cv2.resize(skimage.data.astronaut()[30:210, 140:332], (96, 90))
    data = png(head)
    faced = decode_image(post_image(service, data, faces="true").content)
    plain = decode_image(post_image(service, data).content)
    np.testing.assert_array_equal(plain, reference(data, tile=32))  # limits.auto_tile
    config = UpscaleConfig(model=MODEL, device="cpu", tile=32, face_enhance=gfpgan)
    want = Upscaler.from_config(config).upscale(decode_image(data))
    assert np.any(faced != plain, axis=-1).mean() > 0.2
    assert psnr(faced, want)[0] > 35


def test_large_input_is_tiled(service: ServeCluster) -> None:
    """Above limits.auto_tile (32 here) an untiled request runs in tiles of that size."""
    data = png(rgb(40, 36, seed=4))
    r = post_image(service, data, outscale=1.5)
    assert r.status_code == 200, r.text
    np.testing.assert_array_equal(decode_image(r.content), reference(data, 1.5, tile=32))
    r = post_image(service, data, outscale=1.5, tile=24)  # the client's own tile is kept
    np.testing.assert_array_equal(decode_image(r.content), reference(data, 1.5, tile=24))


def test_models_and_health(service: ServeCluster) -> None:
    assert requests.get(f"{service.url}/healthz", timeout=10).json() == {"status": "ok"}
    post_image(service, png(rgb(8, 8)))  # loads the default model on the replica
    models = requests.get(f"{service.url}/v1/models", headers=AUTH, timeout=10).json()
    assert [m["name"] for m in models] == [MODEL, "realesrgan-x4plus-anime"]
    assert models[0] | {"license": ""} == {
        "name": MODEL,
        "scale": 4,
        "genre": "anime",
        "license": "",
        "description": "SRVGGNetCompact 16 convs: fast, anime video",
        "default": True,
        "loaded": True,
        "device": "cpu",  # the service's config: device cpu, precision auto
        "precision": "bf16" if cpu_has_native_bf16() else "fp32",
        "video_encoder": {"h264": "libx264", "why_not_nvenc": None},  # a CPU replica
    }
    assert models[0]["license"].startswith("BSD-3-Clause")
    assert (models[1]["loaded"], models[1]["precision"]) == (False, None)
    assert requests.get(f"{service.url}/docs", timeout=10).status_code == 200
    docs = requests.get(f"{service.url}/openapi.json", timeout=10).json()
    assert {"/v1/upscale", "/v1/upscale/base64", "/v1/models", "/healthz"} <= set(docs["paths"])


def test_multipart_and_base64_routes(service: ServeCluster, images: dict) -> None:
    want = reference(images["png"])
    r = requests.post(
        f"{service.url}/v1/upscale",
        files={"file": ("x.png", images["png"], "image/png")},
        headers=AUTH,
        timeout=60,
    )
    assert r.status_code == 200, r.text
    np.testing.assert_array_equal(decode_image(r.content), want)

    body = {"image": base64.b64encode(images["png"]).decode(), "model": MODEL}
    r = requests.post(f"{service.url}/v1/upscale/base64", json=body, headers=AUTH, timeout=60)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["width"], got["height"], got["format"]) == (64, 48, "png")
    np.testing.assert_array_equal(decode_image(base64.b64decode(got["image"])), want)


def _hostile(service: ServeCluster, images: dict) -> list[tuple[str, requests.Response, int, str]]:
    """(what, response, expected status, expected error code) for each hostile request."""
    url, good = service.url, images["png"]
    b64 = f"{url}/v1/upscale/base64"
    ok64 = base64.b64encode(good).decode()
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x00\x00"

    def post(data: bytes, ctype: str = "image/png", headers: dict | None = None, **params):
        h = {**(AUTH if headers is None else headers), "Content-Type": ctype}
        return requests.post(f"{url}/v1/upscale", data=data, params=params, headers=h, timeout=60)

    def chunked(total: int) -> Iterator[bytes]:
        for _ in range(total // 10_000):
            yield b"\x00" * 10_000

    return [
        ("garbage bytes", post(b"\x13\x37" * 200), 415, "unsupported_image"),
        ("gif bytes", post(gif, "image/png"), 415, "unsupported_image"),
        ("truncated png", post(good[: len(good) // 2]), 400, "undecodable_image"),
        ("truncated jpeg", post(images["jpeg"][:200], "image/jpeg"), 400, "undecodable_image"),
        ("empty body", post(b""), 400, "empty_body"),
        ("png declaring 100000x100000", post(png_declaring(100_000, 100_000)), 413,
         "image_too_large"),
        ("png over the pixel limit", post(png(rgb(120, 100))), 413, "image_too_large"),
        ("output over the pixel limit", post(png(rgb(40, 40)), outscale=16), 413,
         "image_too_large"),
        ("body over the limit", post(b"\x89PNG" + b"\x00" * 150_000), 413, "payload_too_large"),
        ("chunked body over the limit", post(chunked(150_000)), 413, "payload_too_large"),
        ("wrong content type", post(good, "text/plain"), 415, "unsupported_media_type"),
        ("no content type", post(good, ""), 415, "unsupported_media_type"),
        ("unknown model", post(good, model="nope-x4"), 404, "unknown_model"),
        ("checkpoint path as model", post(good, model="/etc/passwd.pth"), 404, "unknown_model"),
        ("outscale 0", post(good, outscale=0), 422, "invalid_parameter"),
        ("outscale -1", post(good, outscale=-1), 422, "invalid_parameter"),
        ("outscale 1000", post(good, outscale=1000), 422, "invalid_parameter"),
        ("outscale NaN", post(good, outscale="NaN"), 422, "invalid_parameter"),
        ("outscale inf", post(good, outscale="inf"), 422, "invalid_parameter"),
        ("outscale text", post(good, outscale="two"), 422, "invalid_parameter"),
        ("tile -5", post(good, tile=-5), 422, "invalid_parameter"),
        ("format gif", post(good, format="gif"), 422, "invalid_parameter"),
        ("16-bit as jpeg", post(images["png16"], format="jpeg"), 422, "invalid_parameter"),
        ("rgba as jpeg", post(images["rgba"], format="jpeg"), 422, "invalid_parameter"),
        ("multipart without a file",
         requests.post(f"{url}/v1/upscale", files={"x": (None, "1")}, headers=AUTH, timeout=60),
         400, "bad_multipart"),
        ("form instead of an image",
         requests.post(f"{url}/v1/upscale", data={"x": "1"}, headers=AUTH, timeout=60),
         415, "unsupported_media_type"),
        ("bad base64", requests.post(b64, json={"image": "!!not base64!!"}, headers=AUTH,
                                     timeout=60), 400, "invalid_base64"),
        ("base64 of garbage", requests.post(b64, json={"image": "AAAA"}, headers=AUTH,
                                            timeout=60), 415, "unsupported_image"),
        ("base64 without image", requests.post(b64, json={"model": MODEL}, headers=AUTH,
                                               timeout=60), 422, "invalid_parameter"),
        ("base64 not json", requests.post(b64, data=b"{", headers=AUTH, timeout=60), 422,
         "invalid_parameter"),
        ("base64 outscale NaN", requests.post(b64, data=f'{{"image":"{ok64}","outscale":NaN}}',
                                              headers=AUTH, timeout=60), 422,
         "invalid_parameter"),
        ("token missing", post(good, headers={}), 401, "unauthorized"),
        ("token wrong", post(good, headers={"Authorization": "Bearer wrong"}), 401,
         "unauthorized"),
        ("token wrong scheme", post(good, headers={"Authorization": f"Basic {TOKEN}"}), 401,
         "unauthorized"),
        ("models without token", requests.get(f"{url}/v1/models", timeout=10), 401,
         "unauthorized"),
        ("jobs disabled", requests.post(f"{url}/v1/jobs", json={"input": "s3://b/a.mp4",
                                        "output": "s3://b/b.mp4"}, headers=AUTH, timeout=10),
         404, "jobs_disabled"),
        ("store unset: put", requests.put(f"{url}/v1/objects/a.png", data=good, headers={
            **AUTH, "Content-Type": "image/png"}, timeout=10), 404, "store_disabled"),
        ("store unset: get", requests.get(f"{url}/v1/objects/a.png", headers=AUTH, timeout=10),
         404, "store_disabled"),
        ("unknown route", requests.get(f"{url}/v1/nothing", headers=AUTH, timeout=10), 404,
         "not_found"),
        ("wrong method", requests.get(f"{url}/v1/upscale", headers=AUTH, timeout=10), 405,
         "method_not_allowed"),
    ]  # fmt: skip


def _replica_ids(service: ServeCluster) -> tuple[str, str, set[str]]:
    import ray

    r = post_image(service, png(rgb(8, 8)))
    assert r.status_code == 200, r.text
    actors = {
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if "SERVE_REPLICA" in a["name"]
    }
    return r.headers["X-Replica-Id"], r.headers["X-Ingress-Replica-Id"], actors


def test_hostile_requests_get_json_4xx_and_replicas_survive(
    service: ServeCluster, images: dict
) -> None:
    before = _replica_ids(service)
    cases = _hostile(service, images)
    assert len(cases) >= 20
    wrong = []
    for what, r, status, code in cases:
        try:
            body = r.json()
        except json.JSONDecodeError:
            body = {"not json": r.text[:200]}
        if r.status_code != status or body.get("error", {}).get("code") != code:
            wrong.append((what, r.status_code, body))
        assert set(body.get("error", {})) <= {"code", "message"}, (what, body)
        assert TOKEN not in r.text, what  # credentials never echoed
    assert wrong == []
    after = _replica_ids(service)
    assert after == before  # the same replica actors answer: none died or was replaced
    np.testing.assert_array_equal(
        decode_image(post_image(service, images["png"]).content), reference(images["png"])
    )


def test_load_gets_200_or_503_and_batches(service: ServeCluster) -> None:
    data = png(rgb(16, 16, seed=9))
    want = reference(data)

    def one(_: int) -> tuple[int, str | None, str | None, bytes, dict]:
        r = post_image(service, data)
        return (
            r.status_code,
            r.headers.get("Retry-After"),
            r.headers.get("X-Batch-Size"),
            (r.content),
            (r.json() if r.status_code != 200 else {}),
        )

    # Each request is bounded (post_image's timeout): a hung service fails the test there.
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(300)))
    statuses = Counter(status for status, *_ in results)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] > 0
    for status, retry_after, _batch, content, body in results:
        if status == 503:
            assert retry_after is not None and int(retry_after) >= 1
            assert body["error"]["code"] == "overloaded"
        else:
            np.testing.assert_array_equal(decode_image(content), want)
    batches = Counter(int(b) for status, _, b, *_ in results if status == 200)
    assert max(batches) > 1, batches  # concurrent same-shape requests shared a forward
    print(f"load: {statuses}, batch sizes {sorted(batches.items())}")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/setup.sh)")
def test_web_page_in_chromium(service: ServeCluster) -> None:
    data = png(rgb(24, 32, seed=5))
    with chromium_page(f"{service.url}/", height=900) as page:
        page.fill("#token", TOKEN)
        page.dispatch_event("#token", "change")
        page.wait_for_function("document.querySelectorAll('#model option').length === 2")
        assert page.input_value("#model") == MODEL
        page.set_input_files(
            "#file", files=[{"name": "in.png", "mimeType": "image/png", "buffer": data}]
        )
        page.select_option("#outscale", "2")
        page.click("#go")
        page.wait_for_selector("#after[data-ready='1']", state="attached", timeout=60_000)
        size = page.evaluate(
            "() => [$('after').naturalWidth, $('after').naturalHeight,"
            " $('before').naturalWidth, $('before').naturalHeight]"
        )
        assert size == [64, 48, 32, 24]
        assert page.get_attribute("#download", "download") == "in-upscaled.png"
        assert page.is_visible("#download")
        assert "Done in" in page.text_content("#image-status")
        # The before/after comparison: the original stretched over the upscaled image's box,
        # the upscaled one clipped to the right of the split the slider sets.
        assert page.is_visible("#slider") and page.is_visible("#divider")
        assert page.locator("#before").bounding_box() == page.locator("#after").bounding_box()
        box = page.locator("#stage").bounding_box()
        assert box["width"] / box["height"] == pytest.approx(64 / 48, abs=0.01)
        split = "() => [$('slider').value, $('after').style.clipPath, $('divider').style.left]"
        assert page.evaluate(split) == ["50", "inset(0px 0px 0px 50%)", "50%"]
        page.fill("#slider", "30")
        assert page.evaluate(split) == ["30", "inset(0px 0px 0px 30%)", "30%"]
        page.focus("#slider")
        page.keyboard.press("ArrowRight")
        assert page.evaluate(split) == ["31", "inset(0px 0px 0px 31%)", "31%"]
        box = page.locator("#stage").bounding_box()  # in the viewport: after any scroll
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2, steps=4)
        page.mouse.up()
        assert page.evaluate(split) == ["75", "inset(0px 0px 0px 75%)", "75%"]
        page.screenshot(path=str(ARTIFACTS / "serve-page.png"), full_page=True)


# The HTTP answer of each failing image case of the corpus: the route's own for a body that
# is empty or not an image at all (its signature), else the error table's.
IMAGE_ANSWERS = {
    "image-zero-bytes": (400, "empty_body"),
    "image-one-byte": (415, "unsupported_image"),
    "png-cut-50": (400, "undecodable_image"),
    "jpeg-cut-50": (400, "undecodable_image"),
    "image-random-bytes": (415, "unsupported_image"),
    "text-named-png": (415, "unsupported_image"),
    "mp4-named-png": (415, "unsupported_image"),
    "png-declaring-100000x100000": (413, "image_too_large"),
}
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}


def test_hostile_image_corpus(service: ServeCluster, tmp_path: Path) -> None:
    before = _replica_ids(service)
    assert sorted(IMAGE_ANSWERS) == sorted(c.name for c in IMAGE_CASES if not c.works)
    for case in IMAGE_CASES:
        src = Path(make_case(case, tmp_path / case.name))
        data = src.read_bytes()
        # PNG out: a lossy WebP answer could not be compared pixel for pixel
        r = post_image(service, data, CONTENT_TYPES[src.suffix], outscale=2, format="png")
        if case.works:
            assert r.status_code == 200, (case.name, r.text)
            # limits.auto_tile is 32 here: the 64x48 cases run in tiles of 32
            np.testing.assert_array_equal(decode_image(r.content), reference(data, 2, tile=32))
            continue
        assert (r.status_code, r.json()["error"]["code"]) == IMAGE_ANSWERS[case.name], r.text
    assert _replica_ids(service) == before  # no replica died on the way
