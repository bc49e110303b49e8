"""The batch user's way in: ``ray job submit`` of jobs.upscale_video to a real Ray head.

A head started with ``ray start --head`` on loopback, token authentication on (a token of
our own, in a file named by ``RAY_AUTH_TOKEN_PATH``), the input and output on a real S3
server (moto) on loopback.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rayapp import storage
from rayapp.testing import decode_video, make_test_video, stream_packets

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
# What a submission must never upload (the upload limit is ~500 MB; .venv alone is GBs).
EXCLUDES = [".venv", ".git", "**/__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache"]
# Every variable that decides which token a Ray client sends.
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
FRAMES = 24


@dataclass(frozen=True)
class Head:
    dashboard_url: str
    token_path: Path
    home: Path  # HOME of every ray CLI here: the user's ~/.ray/auth_token is never read

    def env(self, *, token: str | None = "file") -> dict[str, str]:
        """Environment of a ray CLI call: our token (``"file"``), a given one, or none."""
        env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS and k != "RAY_ADDRESS"}
        env["HOME"] = str(self.home)
        if token == "file":
            env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_path))
        elif token is not None:
            env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
        else:
            env["RAY_AUTH_MODE"] = "disabled"  # a client that sends no token at all
        return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (ppid is [1], start time [19])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None  # exited while we looked


def _pids_under(root: int) -> dict[int, str]:
    """``root`` and all its descendants, from /proc (no psutil in the venv): pid -> start time."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        if (fields := _stat(entry.name)) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
            starts[int(entry.name)] = fields[19]
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in starts:
            found[pid] = starts[pid]
        todo += parents.get(pid, [])
    return found


def _pids_mentioning(text: str) -> dict[int, str]:
    """Processes whose command line contains ``text`` (our unique temp dir)."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if text.encode() not in (entry / "cmdline").read_bytes():
                continue
        except OSError:
            continue
        if int(entry.name) != os.getpid() and (fields := _stat(entry.name)) is not None:
            found[int(entry.name)] = fields[19]
    return found


def _signal(pids: dict[int, str], sig: signal.Signals) -> None:
    """Signal each process that is still the one we saw (same pid and start time)."""
    for pid, start in pids.items():
        fields = _stat(pid)
        if fields is None or fields[19] != start:
            continue  # gone, or the pid now belongs to someone else
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return json.load(resp) if resp.headers.get_content_type() == "application/json" else {}


def _wait_ready(
    head: Head, agent_url: str, proc: subprocess.Popen, log: Path, timeout_s: float
) -> str:
    """Wait for the dashboard and the node's job agent; returns the dashboard's auth mode.

    Both routes asked here answer without a token (they say the cluster is up, nothing more).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}: see {log}")
        try:
            mode = _get(f"{head.dashboard_url}/api/authentication_mode")["authentication_mode"]
            # A submission before the agent is up fails with "No available agent".
            _get(f"{agent_url}/api/local_raylet_healthz")
            return mode
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    raise TimeoutError(f"the Ray head at {head.dashboard_url} was not ready in {timeout_s} s")


@pytest.fixture(scope="module")
def ray_head() -> Iterator[Head]:
    """A Ray head on 127.0.0.1 with token auth, torn down to the last process it started."""
    # Short and unique: Ray puts unix sockets under it (~107 byte limit), and teardown
    # finds stragglers by it.
    tmp = Path(tempfile.mkdtemp(prefix="rayapp-e2e-", dir="/tmp"))
    home = tmp / "home"
    home.mkdir()
    token_path = tmp / "auth_token"
    token_path.touch(mode=0o600)
    token_path.write_text(secrets.token_hex(32))
    # Every port we can name is our own: other Ray clusters may run on this machine.
    ports = {
        opt: _free_port()
        for opt in (
            "--port",
            "--dashboard-port",
            "--dashboard-agent-listen-port",
            "--dashboard-agent-grpc-port",
            "--runtime-env-agent-port",
            "--metrics-export-port",
            "--ray-client-server-port",
        )
    }
    head = Head(f"http://127.0.0.1:{ports['--dashboard-port']}", token_path, home)
    agent_url = f"http://127.0.0.1:{ports['--dashboard-agent-listen-port']}"
    cmd = [
        str(RAY), "start", "--head", "--block",
        *(x for opt, port in ports.items() for x in (opt, str(port))),
        "--node-ip-address", "127.0.0.1",
        "--dashboard-host", "127.0.0.1",
        "--num-cpus", "2",
        "--temp-dir", str(tmp / "ray"),
        "--include-dashboard", "true",
        "--disable-usage-stats",
    ]  # fmt: skip
    log_path = tmp / "ray-start.log"
    log = log_path.open("wb")
    # Its own session: teardown signals this group, never anyone else's Ray.
    proc = subprocess.Popen(
        cmd, env=head.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        mode = _wait_ready(head, agent_url, proc, log_path, timeout_s=180)
        if mode != "token":
            raise RuntimeError(f"Expected a head with token authentication, but got {mode!r}")
        yield head
    finally:
        # What `ray stop` would do, to our processes only: SIGTERM, a grace period, SIGKILL.
        started = _pids_under(proc.pid) | _pids_mentioning(str(tmp))
        _signal(started, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        if proc.poll() is None:  # not reaped: its pid is still its own
            started |= _pids_under(proc.pid)
        _signal(started | _pids_mentioning(str(tmp)), signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _submit(
    head: Head,
    runtime_env: dict,
    entrypoint: list[str],
    *,
    submission_id: str | None = None,
    token: str | None = "file",
) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(RAY), "job", "submit",
        "--address", head.dashboard_url,
        "--working-dir", str(REPO),
        "--runtime-env-json", json.dumps(runtime_env),
    ]  # fmt: skip
    if submission_id:
        cmd += ["--submission-id", submission_id]
    return subprocess.run(
        [*cmd, "--", *entrypoint],
        env=head.env(token=token),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )


def _jobs_api(head: Head, path: str = "") -> dict | list:
    req = urllib.request.Request(
        f"{head.dashboard_url}/api/jobs/{path}",
        headers={"Authorization": f"Bearer {head.token_path.read_text()}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


@pytest.fixture
def job_env(s3_server: dict[str, str]) -> dict:
    env = dict(s3_server)
    env.update({k: os.environ[k] for k in ("RAYAPP_CACHE_DIR", "RAYAPP_OFFLINE")})
    return {"env_vars": env, "excludes": EXCLUDES}


def test_submit_without_or_with_wrong_token_is_refused(ray_head: Head, job_env: dict) -> None:
    entrypoint = [sys.executable, "-c", "print('never runs')"]
    missing = _submit(ray_head, job_env, entrypoint, token=None)
    assert missing.returncode != 0
    assert "Unauthorized: Missing authentication token" in missing.stderr, missing.stderr

    wrong = _submit(ray_head, job_env, entrypoint, token=secrets.token_hex(32))
    assert wrong.returncode != 0
    assert "Forbidden: Invalid authentication token" in wrong.stderr, wrong.stderr

    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{ray_head.dashboard_url}/api/jobs/", timeout=10)
    assert e.value.code == 401
    # Asked with the token, the cluster knows of no job with that entrypoint.
    assert [j for j in _jobs_api(ray_head) if "never runs" in j["entrypoint"]] == []


def test_submit_video_job_with_token(
    ray_head: Head, job_env: dict, s3_bucket: str, tmp_path: Path
) -> None:
    src, out = f"{s3_bucket}/in.mp4", f"{s3_bucket}/out.mp4"
    make_test_video(src, frames=FRAMES, width=32, height=24, gop=12, audio=True)
    submission_id = f"rayapp-e2e-{secrets.token_hex(4)}"
    entrypoint = [
        # The venv's interpreter by absolute path: the job's shell has no venv on its PATH.
        sys.executable, "-m", "jobs.upscale_video",
        "--input", src,
        "--output", out,
        "--outscale", "2",
        "--segment-s", "0.5",
        "--chunk-frames", "6",
        "--max-replicas", "2",
        "--num-cpus-per-replica", "0.5",
    ]  # fmt: skip
    done = _submit(ray_head, job_env, entrypoint, submission_id=submission_id)
    logs = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, logs
    assert _jobs_api(ray_head, submission_id)["status"] == "SUCCEEDED", logs
    assert f"wrote {out}: {FRAMES} frames, 32x24 -> 64x48" in done.stdout, logs
    assert storage.exists(out)

    src_file, out_file = str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4")
    Path(src_file).write_bytes(storage.read_bytes(src))
    Path(out_file).write_bytes(storage.read_bytes(out))
    want, got = decode_video(src_file), decode_video(out_file)
    assert len(got.pts) == len(want.pts) == FRAMES
    assert got.pts == want.pts
    assert got.time_base == want.time_base
    assert got.indices == list(range(FRAMES))
    want_audio = [bytes(p) for p in stream_packets(src_file, "audio")]
    got_audio = [bytes(p) for p in stream_packets(out_file, "audio")]
    assert len(want_audio) == 17  # 1 s of 16 kHz AAC: 16 frames of 1024 samples, and priming
    assert got_audio == want_audio
