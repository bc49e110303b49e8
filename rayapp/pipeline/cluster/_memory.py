"""A replica's memory, between one chunk's encoder and the next.

Each chunk opens a new encoder, and x264 allocates its frames afresh (about 300 MB at
2560x1920, libx264 medium). Where that memory comes from the kernel, each page is zeroed
and mapped again at its first touch; where it stays in the process, the next encoder takes
it as it is. Two settings spare the kernel that work:

- **No transparent huge pages for a GPU replica** (``without_huge_pages``): x264 asks for its
  frame buffers as 2 MB huge pages, which the kernel zeroes whole at the first touch. On a
  GPU node the CPUs are the bound, so a replica whose model runs on a GPU turns them off for
  its process; one whose model runs on the CPU keeps them for torch's large tensors.
- **glibc's allocator keeps what is freed** (``MALLOC_TUNABLES``, read by glibc when a process
  starts: a local Ray's processes start with them, ``_cluster``, and a cluster's workers
  with ``cluster_configs/``'s ``GLIBC_TUNABLES``): one arena (a thread's own arena gives a
  block of 64 MB back to the kernel once it is empty), blocks up to 32 MB from it rather
  than from their own mappings, and no trimming of its top. A second encoder in a process
  then faults far fewer pages than the first. A process keeps the most it held until it
  exits.

What each saves, measured: docs/benchmarks.md, "A replica's memory".
"""

from __future__ import annotations

import ctypes
import logging

__all__ = ["MALLOC_TUNABLES", "without_huge_pages"]

MALLOC_TUNABLES = ":".join(
    [
        "glibc.malloc.arena_max=1",
        f"glibc.malloc.mmap_threshold={32 << 20}",  # glibc's largest
        f"glibc.malloc.trim_threshold={4 << 30}",
    ]
)

log = logging.getLogger(__name__)

_PR_SET_THP_DISABLE = 41  # prctl(2), Linux 3.15+


def without_huge_pages() -> bool:
    """No transparent huge pages for this process from now on (module docstring); False
    where the kernel or the C library has no such switch: nothing changes then."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    prctl.restype = ctypes.c_int
    done = prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
    if not done:
        log.debug("prctl(PR_SET_THP_DISABLE) failed: errno %d", ctypes.get_errno())
    return done
