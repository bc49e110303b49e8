"""The runners that move a video job's stages: a loop in this process, the Ray core runner
(replica actors fed by decode tasks), and the Ray Data runners measured against it. Only
the local runner is imported here: the others load Ray when a job asks for them."""

from __future__ import annotations

from rayapp.pipeline.runners._local import (
    RUNNERS,
    ChunkRunner,
    LocalRunner,
    Runner,
    open_runner,
)

__all__ = ["RUNNERS", "ChunkRunner", "LocalRunner", "Runner", "open_runner"]
