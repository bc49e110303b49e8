"""Real faults around ``python -m jobs.upscale_video``: Ray gone or unreachable, a signal
at any stage, a work prefix it cannot write, S3 going away (for 10 s, or for good), a
replica that keeps dying on one chunk, the driver killed while it assembles.

Each job here runs as the user runs it, a process of its own, on a small generated clip:
with its own local Ray where the test is about that Ray or the job's start, else joining the
tests' shared one (``RAY_ADDRESS``), as under ``ray job submit``. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from rayapp import storage
from rayapp.config import ReplicaConfig, VideoJobConfig
from rayapp.errors import ChunkFailedError, describe
from rayapp.pipeline.cluster._memory import MALLOC_TUNABLES
from rayapp.testing import decode_video, make_test_video
from tests.conftest import SharedRay
from tests.ray_head import free_port
from tests.waiting import wait_until

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
FRAMES = 48
# 8 chunks of 6 frames on one replica: slow enough (about 0.4 s a chunk) to be signalled
# between the first chunk and the last.
CUT = ["--outscale", "2", "--segment-s", "0.5", "--chunk-frames", "6", "--crf", "0"]
ONE_REPLICA = ["--min-replicas", "1", "--max-replicas", "1"]


class Job:
    """``python -m jobs.upscale_video`` in a process of its own; its log lines as they come."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobs.upscale_video", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(pipe, lines), daemon=True)
            for pipe, lines in ((self.proc.stdout, self.lines), (self.proc.stderr, self._err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(pipe: IO[str], lines: list[str]) -> None:
        for line in pipe:
            lines.append(line)

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=10)

    def wait_for(self, pattern: str, timeout_s: float = 120) -> str:
        """The first log line matching ``pattern``, waiting for it at most ``timeout_s``."""

        def found() -> str | None:
            exited = self.proc.poll() is not None
            if exited:
                self._join()  # every line it wrote is read
            line = next((line for line in list(self.lines) if re.search(pattern, line)), None)
            if line is None and exited:
                pytest.fail(f"exited {self.proc.returncode} before {pattern!r}: {self.log}")
            return line

        what = f"{pattern!r} in the job's log"
        return wait_until(found, timeout_s, what, interval_s=0.02, state=lambda: self.log)

    def finish(self, timeout_s: float = 180) -> tuple[int, str]:
        """(exit code, stderr) once it exits, waiting at most ``timeout_s``."""
        self.proc.wait(timeout=timeout_s)
        self._join()
        return self.proc.returncode, "".join(self._err)

    @property
    def log(self) -> str:
        return "".join(self.lines)


def run(*args: str, env: dict[str, str], timeout_s: float = 180) -> tuple[int, str, str]:
    """The job to its end: (exit code, stdout, stderr)."""
    job = Job(*args, env=env)
    code, err = job.finish(timeout_s)
    return code, job.log, err


def job_lines(log: str) -> list[str]:
    """The lines of the job's own loggers (``rayapp.*``), not its libraries' (botocore's)."""
    return [line for line in log.splitlines() if " rayapp." in line]


def progress_lines(log: str) -> list[str]:
    """The job's ``frames D/T`` lines: one for each chunk it took back from a replica."""
    return re.findall(r"frames \d+/\d+", log)


def reused(log: str) -> tuple[int, int]:
    """(computed, reused) chunks from the job's ``wrote ...`` line."""
    m = re.search(r"(\d+) chunks computed, (\d+) reused", log)
    assert m, log
    return int(m[1]), int(m[2])


def assert_frame_exact(src: str, out: str) -> None:
    want, got = decode_video(src), decode_video(out)
    assert got.indices == list(range(FRAMES))
    assert got.pts == want.pts
    assert got.time_base == want.time_base


def bucket_of(uri: str) -> str:
    return uri.removeprefix("s3://").split("/", 1)[0]


def finished_chunks(work: str) -> int:
    return sum(1 for name in storage_names(work) if name.endswith(".mp4.json"))


def storage_names(prefix: str) -> list[str]:
    fs, path = storage.filesystem(prefix)
    fs.invalidate_cache()
    return [p.rsplit("/", 1)[-1] for p in fs.find(path)]


RETRY = (
    r"cannot write s3://faults-\w+/out\.mp4\.rayapp-work/\w+/chunk-\d+\.mp4(\.json)? \(Could not "
    r"connect to the endpoint URL: \S+\): retry \d+ in [\d.]+ s, giving up \d+ s from now"
)
"""A replica's warning: in its log, and on the job's stderr when Ray forwards it in time."""


def replica_retries(logs: Path, bucket: str) -> list[str]:
    """The retry warnings about ``bucket`` in the logs of a Ray's workers (its session's log
    folder ``logs``: the shared Ray's holds other tests' workers too)."""
    lines = [line for p in sorted(logs.glob("worker-*.err")) for line in p.read_text().splitlines()]
    return [line for line in lines if "retry" in line and f"s3://{bucket}/" in line]


@pytest.fixture
def ray_tmp() -> Iterator[Path]:
    """A Ray temp dir of the test's own (``RAY_TMPDIR``): short, since Ray puts unix sockets
    under it, and holding a ``ray_current_cluster`` file left by a head that is gone."""
    tmp = Path(tempfile.mkdtemp(prefix="rf-", dir="/tmp"))
    (tmp / "ray").mkdir()
    (tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{free_port()}")
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def env(ray_tmp: Path) -> dict[str, str]:
    """A job's environment: no RAY_ADDRESS, the stale cluster file where Ray looks."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return env | {"RAY_TMPDIR": str(ray_tmp)}


@pytest.fixture
def shared_env(ray_local: str) -> dict[str, str]:
    """A job's environment on the tests' shared Ray (made after ``flaky_s3``, like ``env``)."""
    return dict(os.environ) | {"RAY_ADDRESS": ray_local}


@pytest.fixture
def clip(tmp_path: Path) -> str:
    """48 frames of 192x144 with AAC audio, keyframes every 12 frames (4 segments)."""
    return make_test_video(str(tmp_path / "in.mp4"), frames=FRAMES, width=192, height=144)


def processes_under(folder: Path) -> list[str]:
    """The command lines of the live processes that name ``folder`` (a Ray's temp dir: its
    GCS, raylet, monitor, dashboard and agents all name their session's folder)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if str(folder) in cmdline and state != "Z":
                found.append(cmdline)
    return found


def test_no_ray_address_starts_a_local_ray_whatever_the_cluster_file_says(
    clip: str, env: dict[str, str], ray_tmp: Path, tmp_path: Path
) -> None:
    """``ray.init()`` would join the dead head named in ``ray_current_cluster`` and retry
    it for minutes; the job starts its own Ray and says so, without the API server and the
    autoscaler monitor it has no use for, and stops every process of it when it exits."""
    out = str(tmp_path / "out.mp4")
    code, log, err = run("--input", clip, "--output", out, *CUT, env=env)
    assert (code, err) == (0, "")
    assert re.search(r"started a local Ray \(no RAY_ADDRESS\): [\d.]+:\d+", log)
    assert_frame_exact(clip, out)
    logs = ray_tmp / "ray" / "session_latest" / "logs"
    assert list(logs.glob("raylet*.out")) and list(logs.glob("log_monitor*.log"))
    assert list(logs.glob("dashboard.*")) == list(logs.glob("monitor*")) == []
    assert processes_under(ray_tmp) == []


LOCAL_RAY = """
import json, os, ray
from ray._private import node, services, worker
from rayapp.pipeline.cluster._ray import ensure_ray
ensure_ray()
print(json.dumps({
    "task": ray.get(ray.remote(lambda: 7).remote()),
    "worker_tunables": ray.get(ray.remote(lambda: os.environ.get("GLIBC_TUNABLES")).remote()),
    "own_tunables": os.environ.get("GLIBC_TUNABLES"),
    "config": worker._global_node._config,
    "restored": " ".join(
        f.__name__ for f in (node.Node.start_api_server, node.Node.start_monitor, services.get_node)
    ),
}))
"""


def _local_ray(env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", LOCAL_RAY], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_local_ray_retries_its_sockets_often_within_the_same_bound(
    env: dict[str, str], ray_tmp: Path
) -> None:
    """A raylet that finds its object store's socket not yet open, or a worker its raylet's,
    tries again every 50 ms (Ray's own wait is a second), 200 times: the same 10 s bound.
    Its processes start with the malloc tunables that let an encoder reuse the last one's
    memory; the job's own environment is as it was. What ``ray.init`` did otherwise while
    it ran (the head's processes left out, the node asked for every 20 ms) is undone."""
    seen = _local_ray({k: v for k, v in env.items() if k != "GLIBC_TUNABLES"})
    config = seen["config"]
    assert seen["task"] == 7
    assert config["raylet_client_connect_timeout_milliseconds"] == 50
    assert config["raylet_client_num_connect_attempts"] == 200
    assert (seen["worker_tunables"], seen["own_tunables"]) == (MALLOC_TUNABLES, None)
    assert seen["restored"] == "start_api_server start_monitor get_node"
    assert processes_under(ray_tmp) == []


def test_a_local_ray_keeps_the_malloc_tunables_a_user_gives(
    env: dict[str, str], ray_tmp: Path
) -> None:
    mine = "glibc.malloc.arena_max=2"
    seen = _local_ray(env | {"GLIBC_TUNABLES": mine})
    assert (seen["worker_tunables"], seen["own_tunables"]) == (mine, mine)
    assert processes_under(ray_tmp) == []


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_unreachable_ray_address_fails_at_once_naming_it(
    scheme: str, clip: str, env: dict[str, str], tmp_path: Path
) -> None:
    address = f"{scheme}127.0.0.1:{free_port()}"  # nothing listens there
    out = str(tmp_path / "out.mp4")
    env |= {"RAY_ADDRESS": address}
    code, log, err = run("--input", clip, "--output", out, env=env, timeout_s=60)
    assert code == 1
    assert re.fullmatch(
        rf"upscale_video: error: Ray at RAY_ADDRESS={re.escape(address)} does not answer "
        r"\(\[Errno 111\] Connection refused\): start it, or unset RAY_ADDRESS to run on a "
        r"local Ray\n",
        err,
    )
    # At once: at the address check, before the job planned anything or called ray.init
    # (which would retry the address for minutes).
    assert job_lines(log) == []
    assert not list(tmp_path.glob("out.mp4*"))


def test_sigterm_while_chunks_are_made_stops_at_once_and_a_rerun_resumes(
    clip: str, shared_env: dict[str, str], tmp_path: Path
) -> None:
    env = shared_env
    out, work = str(tmp_path / "out.mp4"), str(tmp_path / "work")
    args = ["--input", clip, "--output", out, "--work", work, *CUT, *ONE_REPLICA]
    job = Job(*args, env=env)
    job.wait_for(r"frames 6/48")
    made = finished_chunks(work)
    job.proc.send_signal(signal.SIGTERM)
    code, err = job.finish(timeout_s=60)
    assert (code, err) == (143, "upscale_video: interrupted by SIGTERM\n")
    assert not os.path.exists(out)
    done = finished_chunks(work)
    assert 1 <= done < 8
    # At once: no chunk was given out after the signal. The one replica finished at most the
    # chunk it held, and the next if the one it held ended while the signal was on its way.
    assert made <= done <= made + 2, (made, done)
    code, log, err = run(*args, env=env)
    assert (code, err) == (0, "")
    computed, again = reused(log)
    assert again >= done and computed + again == 8
    assert_frame_exact(clip, out)


def test_sigint_while_the_job_starts_stops_it_and_leaves_nothing(
    clip: str, env: dict[str, str], tmp_path: Path
) -> None:
    out = str(tmp_path / "out.mp4")
    job = Job("--input", clip, "--output", out, *CUT, env=env)
    job.wait_for(r"started a local Ray")  # then it probes and plans; replicas load
    job.proc.send_signal(signal.SIGINT)
    code, err = job.finish(timeout_s=60)
    assert (code, err) == (130, "upscale_video: interrupted by SIGINT\n")
    # At once: while its replica was still loading, so before any chunk came back.
    assert not re.search(r"replica \S+ ready", job.log), job.log
    assert progress_lines(job.log) == [], job.log
    assert not list(tmp_path.glob("out.mp4*"))  # no output, no work folder without chunks


@pytest.mark.parametrize("where", ["missing-bucket", "under-a-file"])
def test_unwritable_work_prefix_fails_before_any_decode(
    where: str, clip: str, env: dict[str, str], tmp_path: Path, s3_server: dict[str, str]
) -> None:
    (tmp_path / "file").write_text("not a folder")
    work = {
        "missing-bucket": "s3://no-such-bucket-rayapp/work",
        "under-a-file": str(tmp_path / "file" / "work"),
    }[where]
    out = str(tmp_path / "out.mp4")
    code, log, err = run("--input", clip, "--output", out, "--work", work, env=env, timeout_s=60)
    assert code == 2
    reason = {
        "missing-bucket": "The specified bucket does not exist",
        "under-a-file": f"{tmp_path}/file is not a folder",
    }[where]
    assert err == f"upscale_video: error: Cannot write under {work}: {reason}\n"
    assert "Ray" not in log  # before any cluster, so before any decode
    assert job_lines(log) == []  # before the job probed or planned anything
    assert not os.path.exists(out)


class S3Link:
    """The jobs' way to the S3 server: a TCP proxy on loopback that can be cut (every open
    connection reset, new ones refused) and restored on the same port. Stopping moto's own
    server would not do: its threads keep serving the connections clients hold open."""

    def __init__(self, target_port: int) -> None:
        self.port, self._target = free_port(), target_port
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        self._listener.close()
        with self._lock:
            cut, self._open = self._open, set()
        for s in cut:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                self._open |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(1 << 16):
                b.sendall(data)
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def flaky_s3(s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Link]:
    """The session's S3 server behind a link this test can cut, in this process's
    environment and in the jobs' (``env`` is made after it)."""
    import s3fs

    link = S3Link(int(s3_server["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{link.port}")
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield link
    finally:
        link.cut()
        s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_clip(flaky_s3: S3Link, clip: str) -> str:
    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    storage.filesystem(f"s3://{bucket}")[0].mkdir(bucket)
    storage.write_bytes(f"s3://{bucket}/in.mp4", Path(clip).read_bytes())
    return f"s3://{bucket}/in.mp4"


def test_s3_gone_for_10_s_mid_job_is_waited_for(
    flaky_s3: S3Link, s3_clip: str, shared_env: dict[str, str], shared_ray: SharedRay
) -> None:
    out = s3_clip.replace("in.mp4", "out.mp4")
    job = Job("--input", s3_clip, "--output", out, *CUT, *ONE_REPLICA, env=shared_env)
    job.wait_for(r"frames 6/48")
    flaky_s3.cut()
    time.sleep(10)
    flaky_s3.restore()
    code, err = job.finish()
    assert code == 0, err
    # Logged where they happened: the driver (its stderr) or the replicas (their logs);
    # which of them met the outage depends on how far the job was when it began.
    logged = [*err.splitlines(), *replica_retries(shared_ray.logs, bucket_of(s3_clip))]
    assert logged and all(re.search(RETRY, line) for line in logged), logged
    assert reused(job.log) == (8, 0)
    assert_frame_exact(s3_clip, out)


def test_s3_gone_for_good_fails_in_bounded_time_and_a_rerun_resumes(
    flaky_s3: S3Link, s3_clip: str, shared_env: dict[str, str], shared_ray: SharedRay
) -> None:
    out = s3_clip.replace("in.mp4", "out.mp4")
    args = ["--input", s3_clip, "--output", out, *CUT, *ONE_REPLICA]
    env = shared_env | {"RAYAPP_STORAGE_RETRY_S": "6"}  # the default 20 s, shorter for the test
    job = Job(*args, env=env)
    job.wait_for(r"frames 6/48")
    flaky_s3.cut()
    code, err = job.finish(timeout_s=120)
    assert code == 1
    *forwarded, last = err.splitlines()
    # The driver's or the replicas' (above).
    logged = [*forwarded, *replica_retries(shared_ray.logs, bucket_of(s3_clip))]
    assert logged and all(re.search(RETRY, line) for line in logged), logged
    # A replica writing its chunk, or the driver reading the work prefix, meets it first.
    assert re.fullmatch(
        r"upscale_video: error: (Frames \d+-\d+ failed: )?Cannot \w+( \w+)? s3://faults-\w+/"
        r"out\.mp4\.rayapp-work/\S+: the store did not answer for 6 s \(Could not connect to "
        r"the endpoint URL: \S+\)",
        last,
    ), last
    # Bounded: each operation that met the outage gave up when its 6 s were spent, after at
    # most 4 retries (waits of 0.5, 1 and 2 s, then the rest of the window); the first to
    # give up failed the job with the line above, its chunk not tried again.
    retries = [re.search(r"retry (\d+) in [\d.]+ s, giving up (\d+) s", line) for line in logged]
    assert all(int(m[1]) <= 4 and int(m[2]) <= 6 for m in retries), logged
    flaky_s3.restore()
    assert not storage.exists(out)
    done = finished_chunks(out + ".rayapp-work")
    assert done >= 1
    code, log, err = run(*args, env=env)
    assert (code, err) == (0, ""), err
    computed, again = reused(log)
    assert again >= done and computed + again == 8
    assert_frame_exact(s3_clip, out)


@pytest.mark.timeout(300)  # a job that waited for its dead replica for good would hang
def test_a_chunk_whose_replica_dies_twice_fails_the_job_naming_its_frames(
    ray_local: str, tmp_path: Path
) -> None:
    from rayapp.pipeline import run_video_job
    from rayapp.testing.faults import DyingUpscaler

    src = make_test_video(str(tmp_path / "in.mp4"), frames=FRAMES, width=64, height=48)
    out = str(tmp_path / "out.mp4")
    config = VideoJobConfig(
        input=src,
        output=out,
        segment_s=0.5,
        chunk_frames=6,
        max_chunk_retries=1,
        replicas=ReplicaConfig(min_replicas=1, max_replicas=1, num_cpus_per_replica=0.5),
    )
    with pytest.raises(ChunkFailedError) as failed:
        run_video_job(config, upscaler=DyingUpscaler(die_at=26), progress=())
    assert re.fullmatch(
        r"Frames 24-29 failed after 2 attempts: their replica died each time "
        r"\(last: Actor(Died|Unavailable)Error\)",
        str(failed.value),
    )
    report = describe(failed.value)
    assert report is not None and report.exit_code == 1
    assert not os.path.exists(out)


def test_driver_killed_while_assembling_leaves_no_output_and_a_rerun_makes_it(
    flaky_s3: S3Link, s3_clip: str, shared_env: dict[str, str]
) -> None:
    """The store goes away once every chunk is made, so the driver is held inside the
    assembly, retrying a read of the store, when it is killed. Which read it retries first
    (a chunk, the source's audio, the output's folder) is not the code's promise: that it
    retries, and that nothing is published until the assembly is whole, is."""
    out = s3_clip.replace("in.mp4", "out.mp4")
    args = ["--input", s3_clip, "--output", out, *CUT, *ONE_REPLICA]
    env = shared_env
    job = Job(*args, env=env)
    job.wait_for(r"frames 48/48")
    flaky_s3.cut()
    job.wait_for(r"cannot \w+ s3://faults-\w+/\S+ .*retry 1")
    job.proc.kill()
    job.finish(timeout_s=30)
    flaky_s3.restore()
    assert not storage.exists(out)
    code, log, err = run(*args, env=env)
    assert (code, err) == (0, "")
    assert reused(log) == (0, 8)
    assert_frame_exact(s3_clip, out)
