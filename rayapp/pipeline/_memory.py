"""A GPU replica's process without transparent huge pages.

Each chunk opens a new encoder. x264 asks the kernel to back its frame buffers (megabytes
each at 2560x1920) with 2 MB huge pages; freed when the chunk ends, they come back fresh for
the next one, and the kernel zeroes each huge page whole at its first touch. Measured on
the 12 s clip x4 with the simulated GPU: 3.6-4.3 s of the replica's system time with huge
pages, 2.2-2.5 s without, and x264's own time the same (70.2-70.5 s). On a GPU node the
CPUs are the bound, so a replica whose model runs on a GPU turns them off for its process;
one whose model runs on the CPU keeps them for torch's large tensors.
"""

from __future__ import annotations

import ctypes
import logging

__all__ = ["without_huge_pages"]

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
