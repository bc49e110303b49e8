"""A Ray head of our own for a test: ``ray start --head --block`` on loopback, token
authentication on, every port it opens chosen free, torn down to the last process it started.

``ray stop`` ends every Ray process on the machine (other test runs, a user's cluster), so
teardown signals only the processes under our ``ray start`` and those naming our temp dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
# What a submission must never upload (the upload limit is ~500 MB; .venv alone is GBs).
EXCLUDES = [".venv", ".git", "**/__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache"]
# Every variable that decides which token a Ray client sends.
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
PORT_OPTIONS = (
    "--port",
    "--dashboard-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
    "--metrics-export-port",
    "--ray-client-server-port",
)


@dataclass(frozen=True)
class Head:
    gcs_address: str  # 127.0.0.1:<port>
    dashboard_url: str
    token_path: Path
    home: Path  # HOME of every ray CLI here: the user's ~/.ray/auth_token is never read
    temp_dir: Path  # ray start's log and Ray's own session logs (--temp-dir) are under it

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of ``ray start``'s output and of the head's own logs (GCS, raylet,
        dashboard, autoscaler): why a head went away, for a failing test's message."""
        logs = self.temp_dir / "ray" / "session_latest" / "logs"
        parts = []
        for path in (
            self.temp_dir / "ray-start.log",
            *(logs / name for name in ("gcs_server.out", "raylet.out", "dashboard.log")),
            *(logs / name for name in ("monitor.log", "monitor.err", "ray_process_exit.log")),
        ):
            with contextlib.suppress(OSError):
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

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

    def api(self, path: str) -> dict | list:
        """GET ``<dashboard>/api/<path>`` with our token; the decoded JSON."""
        req = urllib.request.Request(
            f"{self.dashboard_url}/api/{path}",
            headers={"Authorization": f"Bearer {self.token_path.read_text()}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def submit(
        self,
        runtime_env: dict,
        entrypoint: Sequence[str],
        *,
        submission_id: str | None = None,
        token: str | None = "file",
        in_place: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``ray job submit`` of ``entrypoint`` with the repository as working dir; waits.
        ``in_place``: every node uses the repository where it is (``local://``) instead of an
        uploaded copy: nodes that share this machine's disk would otherwise each unpack
        their copy over the others' while those run in it."""
        working_dir = {"working_dir": f"local://{REPO}"} if in_place else {"excludes": EXCLUDES}
        cmd = [
            str(RAY), "job", "submit",
            "--address", self.dashboard_url,
            *(() if in_place else ("--working-dir", str(REPO))),
            "--runtime-env-json", json.dumps(working_dir | runtime_env),
        ]  # fmt: skip
        if submission_id:
            cmd += ["--submission-id", submission_id]
        return subprocess.run(
            [*cmd, "--", *entrypoint],
            env=self.env(token=token),
            capture_output=True,
            text=True,
            timeout=600,
            cwd=REPO,
        )


def free_port() -> int:
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


class _Exited(Exception):
    """``ray start`` ended before its head answered."""


def _wait_ready(head: Head, agent_url: str, proc: subprocess.Popen, timeout_s: float) -> str:
    """Wait for the dashboard and the node's job agent; returns the dashboard's auth mode.

    Both routes asked here answer without a token (they say the cluster is up, nothing more).
    """

    def ready() -> str:
        if proc.poll() is not None:
            raise _Exited(f"ray start exited with {proc.returncode}")
        mode = _get(f"{head.dashboard_url}/api/authentication_mode")["authentication_mode"]
        # A submission before the agent is up fails with "No available agent".
        _get(f"{agent_url}/api/local_raylet_healthz")
        return mode

    return wait_until(
        ready,
        timeout_s,
        f"the Ray head at {head.dashboard_url} and its job agent to answer",
        interval_s=1,
        retry_on=(urllib.error.URLError, ConnectionError, TimeoutError),
    )


# Tries of ``ray start`` that ends at once: a port chosen free can be taken (by another
# test process's Ray) before the head binds it.
START_TRIES = 3


@contextlib.contextmanager
def ray_head(
    *,
    num_cpus: int = 2,
    port: int | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 180,
    auth: bool = True,
) -> Iterator[Head]:
    """A Ray head on 127.0.0.1 with token auth: its GCS on ``port`` (default: a free one),
    extra ``ray start`` ``args`` and environment ``env``. ``auth=False``: without it, for a
    test process that joins the head itself (Ray reads its auth mode once, at import). A
    ``ray start`` that ends before its head answers is tried again with other free ports,
    ``START_TRIES`` times in all; the error then holds the last one's log."""
    tries = 1 if port is not None else START_TRIES
    for attempt in range(1, tries + 1):
        with _started(num_cpus, port, args, env, auth) as (head, proc, agent_url):
            try:
                mode = _wait_ready(head, agent_url, proc, timeout_s=ready_timeout_s)
            except _Exited as e:
                if attempt == tries:
                    raise RuntimeError(f"{e}, {tries} time(s):\n{head.log_tail()}") from None
                print(f"ray_head: {e}, trying again:\n{head.log_tail()}", file=sys.stderr)
                continue
            if mode != ("token" if auth else "disabled"):
                raise RuntimeError(f"Expected a head with auth {auth}, but got {mode!r}")
            yield head
            return


@contextlib.contextmanager
def _started(
    num_cpus: int, port: int | None, args: Sequence[str], env: Mapping[str, str] | None, auth: bool
) -> Iterator[tuple[Head, subprocess.Popen, str]]:
    """``ray start --head --block`` on free ports (``ray_head``), as (head, its process, the
    job agent's URL); every process it started ends after."""
    # Short and unique: Ray puts unix sockets under it (~107 byte limit), and teardown
    # finds stragglers by it.
    tmp = Path(tempfile.mkdtemp(prefix="rayapp-head-", dir="/tmp"))
    home = tmp / "home"
    home.mkdir()
    token_path = tmp / "auth_token"
    token_path.touch(mode=0o600)
    token_path.write_text(secrets.token_hex(32))
    # Every port we can name is our own: other Ray clusters may run on this machine.
    ports = {opt: free_port() for opt in PORT_OPTIONS}
    if port is not None:
        ports["--port"] = port
    head = Head(
        gcs_address=f"127.0.0.1:{ports['--port']}",
        dashboard_url=f"http://127.0.0.1:{ports['--dashboard-port']}",
        token_path=token_path,
        home=home,
        temp_dir=tmp,
    )
    agent_url = f"http://127.0.0.1:{ports['--dashboard-agent-listen-port']}"
    cmd = [
        str(RAY), "start", "--head", "--block",
        *(x for opt, port in ports.items() for x in (opt, str(port))),
        "--node-ip-address", "127.0.0.1",
        "--dashboard-host", "127.0.0.1",
        "--num-cpus", str(num_cpus),
        "--temp-dir", str(tmp / "ray"),
        "--include-dashboard", "true",
        "--disable-usage-stats",
        *args,
    ]  # fmt: skip
    log = (tmp / "ray-start.log").open("wb")
    # Its own session: teardown signals this group, never anyone else's Ray.
    proc = subprocess.Popen(
        cmd,
        env=head.env(token="file" if auth else None) | dict(env or {}),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield head, proc, agent_url
    finally:
        # What `ray stop` would do, to our processes only: SIGTERM, a grace period, SIGKILL.
        # `ray start --block` never exited within 15 s of SIGTERM (every teardown took 15.0 s),
        # and nothing of a test's head needs a clean exit: 3 s.
        started = _pids_under(proc.pid) | _pids_mentioning(str(tmp))
        _signal(started, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        if proc.poll() is None:  # not reaped: its pid is still its own
            started |= _pids_under(proc.pid)
        _signal(started | _pids_mentioning(str(tmp)), signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
