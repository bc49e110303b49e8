"""Why NVENC does not open on a node, in words a person can act on.

FFmpeg's NVENC needs, in turn: an NVIDIA driver (``libcuda.so.1``), the driver's encode
library in the container (``libnvidia-encode.so.1``: the container runtime mounts it only
with ``NVIDIA_DRIVER_CAPABILITIES`` naming ``video``), a GPU that has NVENC at all (the
H100, H200 and A100 have none: NVDEC only; the A10G, L4, L40S and T4 have it) and a driver
recent enough for the NVENC API this FFmpeg was built against. ``nvenc_reason`` reads the
reason from what ``avcodec_open2`` and FFmpeg's log said, and the GPU's model name.
"""

from __future__ import annotations

import glob
import re
import subprocess

__all__ = ["NO_NVENC_GPUS", "gpu_model", "nvenc_reason"]

# Data-centre GPUs built without NVENC (NVDEC only).
NO_NVENC_GPUS = ("A100", "A30", "A800", "H100", "H200", "H800", "H20")
_CAPABILITIES = "NVIDIA_DRIVER_CAPABILITIES=compute,video,utility"


def nvenc_reason(error: str, gpu: str | None) -> str:
    """Why NVENC failed to open with ``error`` (PyAV's message, FFmpeg's last log line in
    it) on a node whose GPU is ``gpu`` (its model name; None: none seen)."""
    text = error.lower()
    if "libcuda" in text:
        return "no NVIDIA driver on this node (libcuda.so.1 not found)"
    if gpu and set(re.split(r"[\s_-]+", gpu.upper())) & set(NO_NVENC_GPUS):
        return f"no NVENC on this GPU model ({gpu}: it has NVDEC only)"
    if "unsupported device" in text:
        return f"no NVENC on this GPU model ({gpu or 'unknown'})"
    if "libnvidia-encode" in text:
        return (
            "the container lacks the driver's video capability (libnvidia-encode.so.1 not "
            f"found): run it with {_CAPABILITIES}"
        )
    if "api version" in text or "minimum required nvidia driver" in text:
        return f"the NVIDIA driver is too old for this FFmpeg's NVENC ({error})"
    return f"NVENC did not open ({error})"


def gpu_model() -> str | None:
    """The first NVIDIA GPU's model name on this node (None: none seen), from the driver's
    /proc files, else ``nvidia-smi``."""
    for path in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        with open(path) as f:
            for line in f:
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].strip() if out.strip() else None
