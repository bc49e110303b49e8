"""One job's runs through the Ray runner's replicas (``_ray_runner``): decoded ahead by Ray
tasks, given to the replicas' free encoders, retried when a replica dies.

- A decode task per segment yields its runs one by one (a streaming generator). Decoding
  stays a bounded distance ahead of the replicas: at most one decode task per replica, each
  holding at most one finished run the driver has not taken, and at most two decoded runs
  per encoder waiting: object-store use grows with encoders x chunk size, not with the clip.
- Each replica has as many chunks at a time as it has encoders (one until it has said how
  many), so a free encoder always takes the next run. Several jobs may run on one runner at
  once (an archive's videos, each from its own thread): they share the replicas' encoders
  (``Lanes``), so the next video's runs fill the encoders a video's last chunks leave free,
  and no replica is given more chunks than it has encoders.
- A chunk whose replica died (crash, OOM, lost node) is given to the next free encoder, up
  to ``max_chunk_retries`` times; a chunk that fails on its own fails the job at once. A
  replica that died gets no chunk until it says again that it is ready (Ray restarts it),
  so a retry is never spent on a replica that is still restarting. When every replica is
  gone for good, the job fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import ray

from rayapp.errors import ChunkFailedError, VideoError
from rayapp.pipeline.stages import decode_runs, segment_rows
from rayapp.pipeline.work import ChunkRecord, OnChunk, PipelineWork
from rayapp.video import Run

__all__ = ["REPLICA_LOST", "Lanes", "Schedule"]

log = logging.getLogger(__name__)

_RUNS_AHEAD_PER_ENCODER = 2
# A replica's process or node went away (crash, the OOM killer, a lost node): not the
# chunk's fault, so it is given out again.
REPLICA_LOST = (ray.exceptions.RayActorError, ray.exceptions.OutOfMemoryError)
_RESTARTING = ray.exceptions.ActorUnavailableError  # a RayActorError: the call did not run
_HELLO_TRIES = 120  # asked again every _HELLO_WAIT_S while it restarts: a minute
_HELLO_WAIT_S = 0.5
# A job whose next run waits for an encoder another job holds looks again this often.
_SHARED_WAIT_S = 0.05


class Lanes:
    """The replicas' encoders, shared by the jobs a runner runs at once: how many chunks
    each replica takes (its encoders once it said; a loading one: 1), and how many it has."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: list[int] = []
        self._in_flight: list[int] = []

    def add(self) -> None:
        with self._lock:
            self._slots.append(1)
            self._in_flight.append(0)

    def set(self, replica: int, encoders: int) -> None:
        with self._lock:
            self._slots[replica] = encoders

    def total(self) -> int:
        return sum(self._slots)

    def take(self, replica: int) -> bool:
        """One of ``replica``'s encoders for a chunk, if one is free."""
        with self._lock:
            if self._in_flight[replica] >= self._slots[replica]:
                return False
            self._in_flight[replica] += 1
            return True

    def give_back(self, replica: int) -> None:
        with self._lock:
            self._in_flight[replica] -= 1


@dataclass
class _Chunk:
    """A run on its way through a replica."""

    run: Run
    frames: Any  # the ObjectRef of the decoded run
    attempt: int = 0
    replica: int = -1


class Schedule:
    """One job's runs through the replicas (module docstring)."""

    def __init__(
        self,
        replicas: list[Any],
        lanes: Lanes,
        work: PipelineWork,
        on_chunk: OnChunk,
        retries: int,
        retried: Any,  # a Ray metrics Counter
    ) -> None:
        self._replicas = replicas
        self._lanes = lanes
        self._work = work
        self._on_chunk = on_chunk
        self._retries = retries
        self._retried = retried
        self._job = ray.put(work.job)
        self._decode = ray.remote(decode_runs).options(
            num_cpus=0.25, _generator_backpressure_num_objects=1
        )
        self._segments = deque(segment_rows(work.segments, work.runs))
        self._decoders: dict[Any, deque[Run]] = {}
        self._ready: deque[_Chunk] = deque()
        self._calls: dict[Any, _Chunk] = {}
        self._waiting: set[int] = set()  # died: no chunk until it says it is ready again
        self._gone: set[int] = set()  # died for good
        self._hello: dict[Any, tuple[int, int]] = {}  # describe call -> (replica, try)
        for i in range(len(replicas)):  # a loading replica already takes its first chunk
            self._say_hello(i, wait=False)

    def run(self) -> None:
        try:
            while self._segments or self._decoders or self._ready or self._calls:
                self._decode_ahead()
                self._feed()
                waitables = self._waitables()
                # A run that waits for an encoder another job holds: look again shortly.
                timeout = _SHARED_WAIT_S if self._ready else None
                if not waitables:
                    time.sleep(_SHARED_WAIT_S)
                    continue
                done, _ = ray.wait(waitables, num_returns=1, timeout=timeout)
                if done:
                    self._handle(done[0])
        finally:
            for decoder in self._decoders:
                ray.cancel(decoder)
            # A job that failed gives back the encoders its chunks still hold (those calls
            # go on a moment; their answers are read when the runner closes), so that the
            # jobs beside it do not wait for them.
            for chunk in self._calls.values():
                self._lanes.give_back(chunk.replica)

    def unread(self) -> list[Any]:
        """The calls whose answers were not read (the job ended first, or failed)."""
        return [*self._calls, *self._hello]

    def _room(self) -> bool:
        return len(self._ready) < _RUNS_AHEAD_PER_ENCODER * self._lanes.total()

    def _decode_ahead(self) -> None:
        while self._segments and self._room() and len(self._decoders) < len(self._replicas):
            runs, row = self._segments.popleft()
            decoder = self._decode.remote(row, uri=self._work.uri, depth=self._work.depth)
            self._decoders[decoder] = deque(runs)

    def _feed(self) -> None:
        for i, replica in enumerate(self._replicas):
            if i in self._waiting or i in self._gone:
                continue
            while self._ready and self._lanes.take(i):
                chunk = self._ready.popleft()
                chunk.replica = i
                self._calls[replica.encode_chunk.remote(self._job, chunk.frames)] = chunk

    def _waitables(self) -> list[Any]:
        decoders = list(self._decoders) if self._room() else []
        return [*self._calls, *self._hello, *decoders]

    def _handle(self, done: Any) -> None:
        if done in self._decoders:
            self._take_decoded(done)
        elif done in self._hello:
            i, tries = self._hello.pop(done)
            try:
                info = ray.get(done)  # a model that failed to load fails the job here
            except REPLICA_LOST as e:
                self._replica_lost(i, tries, e)
                return
            self._waiting.discard(i)
            self._lanes.set(i, int(info["encoders"]))
            log.info(
                "replica %s ready: %s on %s in %s, encoding with %s, %d chunks at once "
                "(%d threads each)",
                info["replica"],
                info["model"],
                info["device"],
                info["precision"],
                info["encoder"],
                info["encoders"],
                info["encoder_threads"],
            )
        else:
            self._finish(done, self._calls.pop(done))

    def _take_decoded(self, decoder: Any) -> None:
        try:
            frames = next(decoder)
        except StopIteration:
            del self._decoders[decoder]
            return
        expected = self._decoders[decoder]
        if not expected:  # only an error can come after the segment's last run
            ray.get(frames)
            raise VideoError("a decode task yielded more runs than its segment holds")
        # A decode that fails yields its error in place of the next run: the replica given
        # it fails with that error, and so does the job.
        self._ready.append(_Chunk(expected.popleft(), frames))

    def _say_hello(self, i: int, tries: int = 0, *, wait: bool = True) -> None:
        """Ask replica ``i`` to describe itself; ``wait``: it takes no chunk until it answers
        (after it died: Ray restarts it meanwhile)."""
        if wait:
            self._waiting.add(i)
        describe = self._replicas[i].describe.remote(self._work.job.settings)
        self._hello[describe] = (i, tries)

    def _replica_lost(self, i: int, tries: int, e: Exception) -> None:
        """Replica ``i`` did not answer its hello: ask again while Ray restarts it, up to
        ``_HELLO_TRIES`` times; after that, or once Ray gave up on it, it is gone."""
        if isinstance(e, _RESTARTING) and tries < _HELLO_TRIES:
            time.sleep(_HELLO_WAIT_S)
            self._say_hello(i, tries + 1)
            return
        if not isinstance(e, _RESTARTING) and tries == 0:
            log.warning("a replica died while it started (%s)", type(e).__name__)
            self._say_hello(i, 1)  # Ray starts it again
            return
        log.warning("replica %d is gone (%s)", i, type(e).__name__)
        self._gone.add(i)
        if len(self._gone) == len(self._replicas):
            raise ChunkFailedError(f"Every replica died and none came back (last: {e})") from e

    def _finish(self, ref: Any, chunk: _Chunk) -> None:
        self._lanes.give_back(chunk.replica)
        try:
            row = ray.get(ref)
        except REPLICA_LOST as e:  # ActorUnavailableError too: the call may have run
            if chunk.replica not in self._waiting:  # no chunk until Ray has restarted it
                self._say_hello(chunk.replica)
            chunk.attempt += 1
            first, last = chunk.run.start, chunk.run.stop - 1
            if chunk.attempt > self._retries:
                raise ChunkFailedError(
                    f"Frames {first}-{last} failed after {chunk.attempt} attempts: their "
                    f"replica died each time (last: {type(e).__name__})"
                ) from e
            log.warning(
                "frames %d-%d: replica died (%s); retry %d of %d",
                first,
                last,
                type(e).__name__,
                chunk.attempt,
                self._retries,
            )
            self._retried.inc()
            self._ready.appendleft(chunk)
            return
        self._on_chunk(ChunkRecord.from_row(row))
