"""The job's work prefix: where chunks live, how a rerun finds the finished ones.

The prefix includes a fingerprint of everything that decides a chunk's content (the input
object's identity, the model and its settings, the encoder, the segmenting). A rerun of the
same command finds the same prefix and reuses its chunks; a changed config gets a new
prefix and so never reuses a stale chunk. A chunk counts as finished when both the chunk
and its small JSON record exist; both are written atomically, the record last.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

from rayapp import __version__, storage
from rayapp.config import VideoJobConfig
from rayapp.video import Chunk, Run, chunk_uri

__all__ = [
    "finished_chunks",
    "fingerprint",
    "output_fingerprint",
    "record_chunk",
    "work_base",
    "work_prefix",
]

log = logging.getLogger(__name__)


def _input_identity(uri: str) -> dict[str, str]:
    info = storage.info(uri)
    keys = ("size", "ETag", "etag", "mtime", "LastModified", "created")
    return {k: str(info[k]) for k in keys if k in info}


def _what_decides(config: VideoJobConfig, model: str) -> dict[str, Any]:
    return {
        "input": config.input,
        "input_identity": _input_identity(config.input),
        "model": model,
        "mode": [config.mode, config.downscale],
        "encoder": [config.codec, config.crf, config.preset],
        "dedup": config.effective_dedup_threshold,
        "deinterlace": config.deinterlace,
        # Each only where it is not the default: earlier jobs' fingerprints unchanged.
        **({"ivtc": True} if config.ivtc else {}),
        **({"scene_cuts": False} if not config.scene_cuts else {}),
        **({"deflicker": config.deflicker_strength} if config.deflicker else {}),
        **(
            {"interpolate": [config.interpolate, config.interpolator]}
            if config.interpolate > 1
            else {}
        ),
    }


def _digest(material: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(
    config: VideoJobConfig, model: str, size: tuple[int, int], chunk_frames: int
) -> str:
    """16 hex digits naming this job's chunk content: ``model`` identifies the upscaler
    (its settings), ``size`` is the output frame (height, width), ``chunk_frames`` the
    most frames per chunk the plan used."""
    return _digest(
        {
            **_what_decides(config, model),
            "rayapp": __version__,
            "size": list(size),
            "cut": [config.segment_s, chunk_frames],
        }
    )


def output_fingerprint(config: VideoJobConfig, model: str) -> str:
    """16 hex digits naming what decides a finished output: the input object, the model
    (``model``: the upscaler's identity), the encoder and the cut as the config asks for
    them; not the version, nor the cut a cluster's size chose. An output certified under
    the same fingerprint needs no rerun."""
    return _digest({**_what_decides(config, model), "cut": [config.segment_s, config.chunk_frames]})


def work_prefix(
    config: VideoJobConfig, model: str, size: tuple[int, int], chunk_frames: int
) -> str:
    """Where this job's chunks live: under ``work_base``, in a folder named by the job's
    fingerprint."""
    return storage.join(work_base(config), fingerprint(config, model, size, chunk_frames))


def work_base(config: VideoJobConfig) -> str:
    """The folder of every work prefix of ``config``: ``config.work``, default beside the
    output."""
    return config.work or f"{config.output}.rayapp-work"


def _record_uri(work: str, first_frame_index: int) -> str:
    return chunk_uri(work, first_frame_index) + ".json"


def record_chunk(
    work: str, chunk: Chunk, frames_skipped: int, quality: dict[str, Any] | None = None
) -> None:
    """Mark ``chunk`` finished (after the chunk itself has been published), with what a
    rerun needs of it: its repeats skipped and its sampled frames' measures."""
    record = {
        "first_frame_index": chunk.first_frame_index,
        "frame_count": chunk.frame_count,
        "frames_skipped": frames_skipped,
        "quality": quality,
    }
    storage.write_bytes(_record_uri(work, chunk.first_frame_index), json.dumps(record).encode())


def finished_chunks(
    work: str, runs: Sequence[Run]
) -> dict[int, tuple[Chunk, int, dict[str, Any] | None]]:
    """The runs whose chunk is already finished under ``work``, by first frame index: the
    chunk, how many of its frames were repeats that skipped the network, and its sampled
    frames' measures (None: none kept)."""
    names = storage.list_names(work)
    done: dict[int, tuple[Chunk, int, dict[str, Any] | None]] = {}
    for run in runs:
        uri = chunk_uri(work, run.start)
        name = uri.rsplit("/", 1)[-1]
        if name not in names or name + ".json" not in names:
            continue
        record = json.loads(storage.read_bytes(_record_uri(work, run.start)))
        if (record["first_frame_index"], record["frame_count"]) == (run.start, run.frame_count):
            chunk = Chunk(uri, run.start, run.frame_count)
            done[run.start] = (chunk, record["frames_skipped"], record.get("quality"))
    log.info("%d of %d chunks already finished under %s", len(done), len(runs), work)
    return done
