"""The model deployment: one pool of replicas serving every configured model.

Models are loaded with Serve's model multiplexing (an LRU of ``max_models_per_replica``
per replica, keyed by the request's ``multiplexed_model_id``), once per replica, never per
request. Concurrent requests are grouped by ``@serve.batch`` (Serve splits a batch by model
id); inside a batch, requests of the same (shape, dtype, outscale, tile) run as one forward.

Contract: ``upscale(image, outscale, tile, size=None)`` takes ``HW`` / ``HWC`` (C in 1, 3, 4)
``uint8`` or ``uint16`` and returns an ``Upscaled`` with the same layout and dtype, at
``outscale`` (default: the model's scale) or at exactly (height, width) ``size``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from ray import serve

from rayapp.config import ServeModelPoolConfig, UpscaleConfig
from rayapp.models import Network, resolve
from rayapp.upscaler import Upscaler
from rayapp.video import EncodeSettings, encoder_usable

if TYPE_CHECKING:
    from rayapp.faces import FaceEnhancer

__all__ = ["ModelPool", "Upscaled"]

log = logging.getLogger("rayapp.serve")

# Upscalers per loaded model, one per (outscale, tile): they share the network's weights,
# so each costs a few objects, not a model.
_SETTINGS_PER_MODEL = 16


@dataclass(frozen=True)
class Upscaled:
    image: np.ndarray  # same layout and dtype as the request's
    batch_size: int  # requests in the Serve batch this one ran in
    forward_size: int  # images in the same model forward
    replica_id: str


@dataclass(frozen=True)
class _Request:
    image: np.ndarray
    outscale: float | None
    tile: int
    size: tuple[int, int] | None  # exact (height, width) of the output
    faces: bool = False  # restored (ServeModelPoolConfig.face_enhance)

    def key(self) -> tuple:
        shape = (self.image.shape, self.image.dtype.str)
        return (*shape, self.outscale, self.tile, self.size, self.faces)


class LoadedModel:
    """One network on this replica's device, with an ``Upscaler`` per (outscale, tile).

    Used by one batch at a time (``@serve.batch`` runs one batch per replica at once), so
    the small LRU of upscalers needs no lock.
    """

    def __init__(self, name: str, pool: ServeModelPoolConfig) -> None:
        self.name = name
        self._pool = pool
        self._desc: Network = resolve(name).load()
        self._upscalers: OrderedDict[tuple[float | None, int, bool], Upscaler] = OrderedDict()
        first = self.upscaler(None, 0)  # where and in what precision this replica runs it
        self.device, self.precision = str(first.device), first.precision

    def upscaler(self, outscale: float | None, tile: int, faces: bool = False) -> Upscaler:
        """The upscaler of (``outscale``, ``tile``); with ``faces``, one that restores them
        (the pool's checkpoint, loaded at the first such request)."""
        key = (outscale, tile, faces)
        if key in self._upscalers:
            self._upscalers.move_to_end(key)
            return self._upscalers[key]
        config = UpscaleConfig(
            model=self.name,
            device=self._pool.device,
            precision=self._pool.precision,
            outscale=outscale,
            tile=tile,
        )
        up = self._upscalers[key] = Upscaler(self._desc, config, self._faces() if faces else None)
        if len(self._upscalers) > _SETTINGS_PER_MODEL:
            self._upscalers.popitem(last=False)
        return up

    def _faces(self) -> FaceEnhancer:
        checkpoint = self._pool.face_enhance
        if checkpoint is None:
            raise ValueError("faces asked of a pool that restores none")
        return _face_enhancer(checkpoint, self._pool.face_strength, self.device)


@functools.cache
def _face_enhancer(checkpoint: str, strength: float, device: str) -> FaceEnhancer:
    """The pool's face step, loaded once per replica whichever models it serves."""
    from rayapp.faces import FaceEnhancer

    return FaceEnhancer.load(checkpoint, strength, device)


@serve.deployment(name="ModelPool")
class ModelPool:
    def __init__(self, pool: ServeModelPoolConfig) -> None:
        if pool.threads_per_replica:
            torch.set_num_threads(pool.threads_per_replica)
        self._pool = pool
        self._replica_id = serve.get_replica_context().replica_id.unique_id

        # Wired up here so the LRU size and the batch size come from the config.
        async def load(model_id: str) -> LoadedModel:
            if model_id not in pool.models:  # the ingress checks too; never load a path
                raise KeyError(f"model {model_id!r} is not served here")
            model = await asyncio.to_thread(LoadedModel, model_id, pool)
            log.info("replica %s loaded %s", self._replica_id, model_id)
            return model

        self._load_fn = load  # Serve keeps its LRU on this function object
        self._load = serve.multiplexed(max_num_models_per_replica=pool.max_models_per_replica)(load)
        self._batched.set_max_batch_size(pool.max_batch_size)
        self._batched.set_batch_wait_timeout_s(pool.batch_wait_timeout_s)

    async def upscale(
        self,
        image: np.ndarray,
        outscale: float | None,
        tile: int,
        size: tuple[int, int] | None = None,
        faces: bool = False,
    ) -> Upscaled:
        return await self._batched(_Request(image, outscale, tile, size, faces))

    async def loaded_models(self) -> dict[str, dict[str, str]]:
        """Models loaded on this replica (most recently used last): the device and the
        precision each runs in (``precision=auto`` resolved on this replica's hardware)."""
        wrapper = getattr(self._load_fn, "__serve_multiplex_wrapper", None)
        models = wrapper.models if wrapper is not None else {}
        return {
            name: {"device": m.device, "precision": m.precision, "video_encoder": _video_encoder(m)}
            for name, m in models.items()
        }

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
    async def _batched(self, requests: list[_Request]) -> list[Upscaled]:
        model = await self._load(serve.get_multiplexed_model_id())
        return await asyncio.to_thread(self._run, model, requests)

    def _run(self, model: LoadedModel, requests: list[_Request]) -> list[Upscaled]:
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(r.key(), []).append(i)
        out: list[Upscaled | None] = [None] * len(requests)
        for indices in groups.values():
            first = requests[indices[0]]
            up = model.upscaler(first.outscale, first.tile, first.faces)
            images, forward = _upscale_group(up, [requests[i].image for i in indices], first.size)
            for i, image in zip(indices, images, strict=True):
                out[i] = Upscaled(image, len(requests), forward, self._replica_id)
        return out  # type: ignore[return-value]


def _video_encoder(model: LoadedModel) -> dict[str, str | None]:
    """The encoder a video job's replica on this device gets for ``--codec h264``, and why
    not NVENC when a GPU replica falls back to the CPU (probed once per process)."""
    device = model.device.split(":")[0]
    chosen = EncodeSettings("h264").for_device(device).spec.name
    why_not = encoder_usable("h264_nvenc") if device == "cuda" and chosen == "libx264" else None
    return {"h264": chosen, "why_not_nvenc": why_not}


def _upscale_group(
    up: Upscaler, images: list[np.ndarray], size: tuple[int, int] | None
) -> tuple[list[np.ndarray], int]:
    """Same-shape images -> (upscaled, images per forward): RGB in one forward; gray and
    RGBA one by one (``Upscaler.upscale`` handles their channels), and any whose faces are
    restored (``Upscaler.upscale`` does)."""
    rgb = images[0].ndim == 3 and images[0].shape[2] == 3
    if len(images) > 1 and rgb and up.faces is None:
        return list(up.upscale_batch(np.stack(images), size)), len(images)
    return [up.upscale(image, size) for image in images], 1
