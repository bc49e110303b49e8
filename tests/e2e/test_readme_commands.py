"""Every command block of README.md and cluster_configs/README.md, run as written: the docs
cannot drift from the code.

Where they run: a copy of the repository's tracked files (nothing is written into the
checkout) with ``.venv`` linked in and the files the examples name (``in.png``, ``in.mp4``,
...), each command in ``bash`` after ``source .venv/bin/activate`` (the README's set-up);
``s3://my-bucket`` on a real S3 server (moto); a Ray head of our own, started in the venv
with token auth, for ``ray job submit`` (``RAY_ADDRESS``: its dashboard) and ``serve run``
(its GCS). Two values are the test's own, so that two runs on one machine never collide:
the head's ports (the README's ``RAY_ADDRESS`` is the user's), and Serve's port 8000 (in
the copy's ``serve/config.yaml`` and the curl line). A block is skipped only with a
``<!-- not run: why -->`` line above it; a command only when ``NOT_RUN`` says why.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rayapp import storage
from rayapp.images import encode_image
from rayapp.models._registry import get_spec
from rayapp.models._sources import resolve_weights
from rayapp.sample import make_sample_video
from rayapp.testing import decode_video, make_test_video, stream_packets
from rayapp.video import probe
from tests.e2e.small_job import FRAMES, assert_whole_output, wrote_line
from tests.ray_head import Head, free_port, ray_head
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.ray]

REPO = Path(__file__).resolve().parents[2]
READMES = ("README.md", "cluster_configs/README.md")
BLOCK = re.compile(
    r"(?:[ ]*<!-- not run: (?P<why>[^>]+) -->\n)?[ ]*```bash\n(?P<body>.*?)[ ]*```", re.S
)
# Commands of run blocks that this test does not run, and why.
NOT_RUN = {"scripts/test.sh": "the test suite itself (CI runs it: .ci/run)"}
BUCKET = "s3://my-bucket"
EPISODES = ("s1/e1.mp4", "s2/e1.mkv")  # the archives' videos, in a folder and on S3


def commands(text: str) -> list[tuple[str | None, str]]:
    """(why not run, or None; the command) of each command in each bash block of ``text``:
    backslash continuations joined, comments dropped."""
    found = []
    for block in BLOCK.finditer(text):
        joined = re.sub(r"\s*\\\n\s*", " ", block["body"])
        for line in joined.splitlines():
            line = re.sub(r"\s{2,}#.*$", "", line).strip()  # a comment after the command
            if line and not line.startswith("#"):
                found.append((block["why"], line))
    return found


def test_every_block_runs_or_says_why_not() -> None:
    """The list the other tests run from, checked itself: each README has run commands, and
    every skipped block says why."""
    for name in READMES:
        text = (REPO / name).read_text()
        assert text.count("```bash") == len(list(BLOCK.finditer(text))), name
    readme = commands((REPO / "README.md").read_text())
    assert [c for why, c in readme if why is None and c not in NOT_RUN] == RUN_IN_ORDER


RUN_IN_ORDER = [
    "scripts/quickstart.sh",
    "source .venv/bin/activate",
    "rayapp models",
    "rayapp upscale in.png out.png --model realesrgan-x4plus --outscale 2",
    "rayapp upscale photos/ photos-4x/ --tile 256",
    "rayapp upscale in.jpg out.webp --model checkpoint.safetensors",
    "rayapp video in.mp4 out.mkv --model realesr-animevideov3 --outscale 2 --codec hevc",
    "rayapp plan in.mp4 --outscale 2 --deadline 10m",
    "rayapp video episodes/ episodes-hd/ --outscale 2",
    "ray job submit --working-dir . -- python -m jobs.upscale_video --input "
    "s3://my-bucket/in.mp4 --output s3://my-bucket/out.mp4 --model realesr-animevideov3 "
    "--outscale 2",
    "python -m jobs.upscale_video --input s3://my-bucket/in.mp4 --output "
    "s3://my-bucket/out.mp4 --dry-run --deadline 1h",
    "ray job submit --working-dir . -- python -m jobs.upscale_video --input "
    "s3://my-bucket/archive/ --output s3://my-bucket/hd/ --model realesr-animevideov3",
    "python -m jobs.upscale_images --input s3://my-bucket/lowres/ --output "
    "s3://my-bucket/hires/ --outscale 4",
    "python -m jobs.evaluate --input s3://my-bucket/originals/ --output "
    "s3://my-bucket/evaluation/ --scales 2,4 --models realesr-animevideov3,bicubic "
    "--format webp --image-quality 90",
    ".venv/bin/serve run serve/config.yaml",
    "curl -s --data-binary @in.png -H 'Content-Type: image/png' "
    "'http://127.0.0.1:8000/v1/upscale?model=realesr-animevideov3&outscale=2' -o out.png",
]


def _png(h: int, w: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return encode_image(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "png")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory, s3_server: dict[str, str]) -> Path:
    """A copy of the tracked files, the venv linked in, and what the examples name."""
    import s3fs

    # The venv up to date first: the copy's quick start runs scripts/setup.sh, which would
    # otherwise reinstall rayapp into the shared .venv from the copy (editable, gone later).
    subprocess.run([REPO / "scripts" / "setup.sh"], check=True, capture_output=True)
    root = tmp_path_factory.mktemp("readme")
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    (root / ".venv").symlink_to(REPO / ".venv")
    # The page's player, as setup fetched it (its copy's setup then fetches nothing).
    shutil.copytree(REPO / "serve" / "static" / "vendor", root / "serve" / "static" / "vendor")
    (root / "in.png").write_bytes(_png(24, 32, 0))
    (root / "in.jpg").write_bytes(encode_image(np.full((24, 32, 3), 90, np.uint8), "jpeg"))
    (root / "photos").mkdir()
    for i in range(2):
        (root / "photos" / f"p{i}.png").write_bytes(_png(16, 16, i + 1))
    weights = resolve_weights(get_spec("realesr-animevideov3"))  # converted into the cache
    shutil.copy(weights, root / "checkpoint.safetensors")
    make_test_video(str(root / "in.mp4"), frames=FRAMES, width=32, height=24, gop=12)
    for name in EPISODES:
        make_test_video(str(root / "episodes" / name), frames=FRAMES, width=32, height=24)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server["AWS_ENDPOINT_URL"]})
    fs.mkdir("my-bucket")
    make_test_video(f"{BUCKET}/in.mp4", frames=FRAMES, width=32, height=24, gop=12)
    for name in EPISODES:
        make_test_video(f"{BUCKET}/archive/{name}", frames=FRAMES, width=32, height=24)
    for i in range(2):
        storage.write_bytes(f"{BUCKET}/lowres/l{i}.png", _png(12, 16, 10 + i))
        storage.write_bytes(f"{BUCKET}/originals/o{i}.png", _png(32, 32, 20 + i))
    return root


@pytest.fixture(scope="module")
def head(scratch: Path, s3_server: dict[str, str]) -> Iterator[Head]:
    """``ray start --head`` in the activated venv (the README's way): the job's ``python``
    is the venv's."""
    path = f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    with ray_head(env=dict(s3_server) | {"PATH": path}) as h:
        yield h


def run(
    command: str, cwd: Path, env: dict[str, str], timeout_s: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"source .venv/bin/activate && {command}"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip


def _readme(name: str = "README.md") -> list[str]:
    return [c for why, c in commands((REPO / name).read_text()) if why is None]


def test_readme_commands_run_as_written(
    scratch: Path, head: Head, s3_server: dict[str, str]
) -> None:
    base = head.env() | dict(s3_server)  # our token, our HOME; no RAY_ADDRESS
    serve_port = free_port()
    config = scratch / "serve" / "config.yaml"
    config.write_text(config.read_text().replace("port: 8000", f"port: {serve_port}", 1))
    done: list[str] = []
    serving: subprocess.Popen[str] | None = None
    try:
        for command in _readme():
            if command in NOT_RUN:
                continue
            env = dict(base)
            if command.startswith("ray job"):
                env["RAY_ADDRESS"] = head.dashboard_url
            if ".venv/bin/serve run" in command:
                env["RAY_ADDRESS"] = head.gcs_address
                serving = subprocess.Popen(
                    ["bash", "-c", f"source .venv/bin/activate && exec {command}"],
                    cwd=scratch, env=env, text=True, start_new_session=True,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                )  # fmt: skip
                _wait_healthy(f"http://127.0.0.1:{serve_port}/healthz", serving)
                done.append(command)
                continue
            command = command.replace("127.0.0.1:8000", f"127.0.0.1:{serve_port}")
            result = run(command, scratch, env)
            assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-3000:])
            done.append(command)
            _check(command, result, scratch)
    finally:
        if serving is not None:
            os.killpg(serving.pid, signal.SIGINT)  # serve run shuts its app down
            try:
                serving.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(serving.pid, signal.SIGKILL)
    assert len(done) == len(RUN_IN_ORDER)


def _wait_healthy(url: str, proc: subprocess.Popen[str], timeout_s: float = 240) -> None:
    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve run exited {proc.returncode}: {proc.stdout.read()}")
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200

    wait_until(
        healthy,
        timeout_s,
        f"{url} to answer 200",
        interval_s=1,
        retry_on=(urllib.error.URLError, ConnectionError, TimeoutError),
    )


def _size(path: Path) -> tuple[int, int]:
    from rayapp.images import decode_image

    h, w = decode_image(path.read_bytes()).shape[:2]
    return w, h


def _check(command: str, result: subprocess.CompletedProcess[str], at: Path) -> None:
    """What each command must have made, beyond exit 0."""
    out = result.stdout
    if command == "scripts/quickstart.sh":
        video = probe(str(at / "rayapp-demo.mp4")).video
        sample = make_sample_video(str(at / "sample-check.mp4"), seconds=2.0)
        assert video.frame_pts == probe(sample).video.frame_pts and video.frame_count == 48
        assert (video.width, video.height) == (320, 240)
        assert "frames     48 of 48" in out and "byte-identical to the sample" in out
        assert [bytes(p) for p in stream_packets(str(at / "rayapp-demo.mp4"), "audio")] == [
            bytes(p) for p in stream_packets(sample, "audio")
        ]
    elif command == "rayapp models":
        assert "realesr-animevideov3" in out and "realesrgan-x4plus" in out
    elif command.startswith("rayapp upscale in.png out.png"):
        assert _size(at / "out.png") == (64, 48)
    elif command.startswith("rayapp upscale photos/"):
        assert sorted(p.name for p in (at / "photos-4x").iterdir()) == ["p0.png", "p1.png"]
        assert _size(at / "photos-4x" / "p0.png") == (64, 64)
    elif command.startswith("rayapp upscale in.jpg"):
        assert _size(at / "out.webp") == (128, 96)
    elif command.startswith("rayapp video episodes/"):
        assert out.startswith("archive: 2 videos, 2 done, 0 skipped, 0 failed"), out
        for name in EPISODES:
            assert decode_video(str(at / "episodes-hd" / name)).indices == list(range(FRAMES))
    elif command.startswith("rayapp video"):
        video = decode_video(str(at / "out.mkv"))
        assert video.indices == list(range(FRAMES)) and "hevc" in out
    elif command.startswith("rayapp plan"):
        assert f"{FRAMES} frames" in out and "deadline 0:10:00: 1 replicas" in out
    elif command.startswith("ray job submit") and "archive/" in command:
        assert "archive: 2 videos, 2 done, 0 skipped, 0 failed" in out, out[-3000:]
        for name in EPISODES:
            assert decode_video(f"{BUCKET}/hd/{name}").indices == list(range(FRAMES))
    elif command.startswith("ray job submit"):
        assert wrote_line(f"{BUCKET}/out.mp4") in out, out[-3000:]
        (at / "job").mkdir()
        assert_whole_output(f"{BUCKET}/in.mp4", f"{BUCKET}/out.mp4", at / "job")
    elif "--dry-run" in command:
        assert f"{FRAMES} frames" in out and "deadline 1:00:00: 1 replicas" in out
    elif command.startswith("python -m jobs.upscale_images"):
        assert storage.exists(f"{BUCKET}/hires/l0.png") and storage.exists(f"{BUCKET}/hires/l1.png")
    elif command.startswith("python -m jobs.evaluate"):
        assert storage.exists(f"{BUCKET}/evaluation/evaluation.csv")
    elif command.startswith("curl"):
        assert _size(at / "out.png") == (64, 48)
    elif command != "source .venv/bin/activate":
        raise AssertionError(f"no check for {command!r}")


def test_cluster_configs_readme_runs_what_one_machine_can(scratch: Path, head: Head) -> None:
    """cluster_configs/README.md: everything else needs AWS, Kubernetes or Docker, and says so."""
    run_here = _readme("cluster_configs/README.md")
    assert run_here == ["ray get-auth-token --generate"]
    env = head.env(token=None) | {"HOME": str(scratch)}
    del env["RAY_AUTH_MODE"]  # as on a user's machine: nothing set
    result = run(run_here[0], scratch, env)
    assert result.returncode == 0, result.stderr
    assert len((scratch / ".ray" / "auth_token").read_text().strip()) >= 32
