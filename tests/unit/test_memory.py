"""A process's memory between one chunk's encoder and the next (``pipeline._memory``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rayapp.pipeline.cluster._memory import MALLOC_TUNABLES

# Alone: beside another test's load, the next encoder once faulted in 19 % of the last's
# pages again with the tunables (under 1 % on its own).
pytestmark = pytest.mark.alone

# Three chunks in turn, each a new libx264 (medium) in the same process: the page faults of
# each, from its encoder's start to its file's close.
THREE_CHUNKS = """
import json, resource, sys
from rayapp.pipeline.cluster._memory import without_huge_pages
from rayapp.testing import frame_pattern, make_test_video
from rayapp.video import ChunkEncoder, EncodeSettings, probe

without_huge_pages()  # as a GPU replica: x264's buffers in 4 KB pages
source = probe(make_test_video(sys.argv[1], frames=2)).video
frames = [frame_pattern(i, 1920, 2560) for i in range(4)]
faults = []
for chunk in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with ChunkEncoder(f"memory://reuse/{chunk}.mp4", source, height=1920, width=2560,
                      settings=EncodeSettings(preset="medium"), threads=1) as encoder:
        for i, frame in enumerate(frames):
            encoder.write(frame, frame_index=i, pts=i * 512)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


def _faults(tmp_path: Path, tunables: str | None) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if tunables is not None:
        env["GLIBC_TUNABLES"] = tunables
    done = subprocess.run(
        [sys.executable, "-c", THREE_CHUNKS, str(tmp_path / "source.mp4")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_malloc_tunables_give_the_next_encoder_the_memory_of_the_last(
    tmp_path: Path,
) -> None:
    """With glibc's defaults each chunk's encoder maps its frames afresh (every page zeroed
    and faulted in again); with ``MALLOC_TUNABLES`` the next takes the last's memory."""
    first, *later = _faults(tmp_path, None)
    assert first > 20_000  # 4-frame chunks at 2560x1920: about 140 MB each
    assert min(later) > first / 2  # glibc's own: as many again, every time
    # Here: under 1 %, then none (330 and 3 of 37150 pages, eight runs alone or beside two
    # busy cores). Faults also come from outside (alone at the end of a whole suite: 6872
    # once, then 6538 and 6866 in two runs in a row, 18 % of a chunk: this machine's kernel
    # runs a proactive pageout, and reclaims and compacts after the suite), never go: so the
    # process is measured up to three times, until a run meets the bound; the best counts.
    # Without the tunables' effect no run could: every chunk would fault as many again.
    runs: list[list[int]] = []
    while len(runs) < 3 and not any(max(r[1:]) < r[0] / 20 for r in runs):
        runs.append(_faults(tmp_path, MALLOC_TUNABLES))
    first, *later = min(runs, key=lambda faults: max(faults[1:]) / faults[0])
    assert first > 20_000
    assert max(later) < first / 20, runs
