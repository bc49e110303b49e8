"""RIFE checkpoints by path: frames between frames by the user's own weights.

RIFE (Huang et al., ECCV 2022; Practical-RIFE, MIT licence, Copyright (c) 2021 hzwer) is a
network that estimates the flow from the new frame to both neighbours and a blending mask,
coarse to fine over a few blocks. Its weights cannot be downloaded here, so the architecture
is ours, written after Practical-RIFE's ``IFNet_HDv3`` of each version, and the weights are
the user's: ``flownet.pkl`` as Practical-RIFE saves it (a state dict of a DDP-wrapped IFNet,
keys prefixed ``module.``; the prefix may be absent).

Versions differ in their blocks; those whose state dicts share a layout form a group
(``GROUPS``), told apart by the state dict's keys and shapes alone (``rife_group``):

- ``4.6``: four blocks (192, 128, 96 and 64 channels) of eight residual convolutions,
  each refining the flow both ways and the mask at 1/8 to full size;
- ``4.25``: five blocks (192 to 32 channels, 1/16 to full size) that also pass 8 feature
  channels on, and a small encoder whose features of both frames every block sees warped.

A checkpoint of another layout is refused with one line naming the groups known.

Frames: ``HxWx3`` RGB ``uint8`` or ``uint16``, padded to a multiple of 64 (``4.6``) or 128
(``4.25``) inside the network and cropped back.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rayapp import storage
from rayapp.errors import WeightsError
from rayapp.interpolate import check_between
from rayapp.quality import peak

__all__ = ["GROUPS", "IFNet", "RifeInterpolator", "rife_group"]

# Group -> (channels of each block, channels a block's last layer makes before the pixel
# shuffle: 4 flow + 1 mask (+ 8 features), times 4)
GROUPS: dict[str, tuple[tuple[int, ...], int]] = {
    "4.6": ((192, 128, 96, 64), 4 * 6),
    "4.25": ((192, 128, 96, 64, 32), 4 * 13),
}
_FEATURES = 8  # 4.25: its encoder's channels for both frames (4 each); what a block passes on


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, True))


class _ResConv(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class _Head(nn.Module):
    """The 4.25 encoder: 4 feature channels of a frame at its own size."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.cnn0(x))
        x = self.relu(self.cnn1(x))
        return self.cnn3(self.relu(self.cnn2(x)))


class _Block(nn.Module):
    def __init__(self, cin: int, c: int, out: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv(cin, c // 2, 2), _conv(c // 2, c, 2))
        self.convblock = nn.Sequential(*(_ResConv(c) for _ in range(8)))
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, out, 4, 2, 1), nn.PixelShuffle(2))

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor | None, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.interpolate(x, scale_factor=1 / scale, mode="bilinear")
        if flow is not None:
            flow = F.interpolate(flow, scale_factor=1 / scale, mode="bilinear") / scale
            x = torch.cat((x, flow), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        out = F.interpolate(out, scale_factor=scale, mode="bilinear")
        return out[:, :4] * scale, out[:, 4:5], out[:, 5:]


def _backwarp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` sampled at each pixel plus ``flow`` (pixels; bilinear, edges repeated)."""
    n, _, h, w = flow.shape
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).expand(n, h, w, 2)
    offset = torch.stack((flow[:, 0] * 2 / (w - 1), flow[:, 1] * 2 / (h - 1)), dim=-1)
    return F.grid_sample(
        image, grid + offset, mode="bilinear", padding_mode="border", align_corners=True
    )


class IFNet(nn.Module):
    """RIFE's flow network of ``group`` (``GROUPS``): ``forward(a, b, t)`` makes the frame at
    ``t`` (N x 1 x H x W, or a number) between ``a`` and ``b`` (N x 3 x H x W in [0, 1], H
    and W multiples of ``self.align``)."""

    def __init__(self, group: str = "4.6") -> None:
        super().__init__()
        if group not in GROUPS:
            raise ValueError(f"Expected a RIFE group of {', '.join(GROUPS)}, got {group!r}")
        self.group = group
        widths, out = GROUPS[group]
        features = group == "4.25"
        extra = _FEATURES if features else 0  # both frames' (warped) encoder features
        passed = _FEATURES if features else 0  # the features a block passes to the next
        first = 7 + extra
        rest = 8 + extra + passed + 4
        for i, c in enumerate(widths):
            self.add_module(f"block{i}", _Block(first if i == 0 else rest, c, out))
        if features:
            self.encode = _Head()
        self.scales = [2.0 ** (len(widths) - 1 - i) for i in range(len(widths))]
        self.align = 64 if len(widths) == 4 else 128

    def forward(self, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        if not isinstance(t, torch.Tensor):
            t = torch.full_like(a[:, :1], float(t))
        blocks = [getattr(self, f"block{i}") for i in range(len(self.scales))]
        encoded = hasattr(self, "encode")
        fa, fb = (self.encode(a), self.encode(b)) if encoded else (None, None)
        flow = mask = feat = None
        warped_a, warped_b = a, b
        for block, scale in zip(blocks, self.scales, strict=True):
            if flow is None:
                parts = [a, b, *((fa, fb) if encoded else ()), t]
                flow, mask, feat = block(torch.cat(parts, 1), None, scale)
            else:
                parts = [warped_a, warped_b]
                if encoded:
                    parts += [_backwarp(fa, flow[:, :2]), _backwarp(fb, flow[:, 2:4])]
                parts += [t, mask, *((feat,) if encoded else ())]
                delta, step_mask, feat = block(torch.cat(parts, 1), flow, scale)
                flow = flow + delta
                mask = step_mask if encoded else mask + step_mask
            warped_a, warped_b = _backwarp(a, flow[:, :2]), _backwarp(b, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        return warped_a * weight + warped_b * (1 - weight)


def rife_group(state: Mapping[str, Any]) -> str:
    """The group (``GROUPS``) whose layout ``state`` (``module.`` prefix stripped) has;
    ``WeightsError`` naming the groups when none."""
    keys = set(state)
    for group, (widths, out) in GROUPS.items():
        wanted = {f"block{i}.lastconv.0.weight" for i in range(len(widths))}
        if not wanted <= keys or f"block{len(widths)}.lastconv.0.weight" in keys:
            continue
        if ("encode.cnn0.weight" in keys) != (group == "4.25"):
            continue
        shapes = [tuple(state[f"block{i}.lastconv.0.weight"].shape) for i in range(len(widths))]
        if shapes == [(c, out, 4, 4) for c in widths]:
            return group
    raise WeightsError(
        "not a RIFE flownet this build knows: its layout is none of RIFE "
        + ", ".join(f"{g} ({len(GROUPS[g][0])} blocks)" for g in GROUPS)
        + "; give a Practical-RIFE flownet.pkl of one of them"
    )


class RifeInterpolator:
    """A RIFE checkpoint, loaded and run on ``device``: ``between(a, b, times)``."""

    def __init__(self, net: IFNet, device: str = "cpu") -> None:
        self.net = net.to(device).eval()
        self.device = torch.device(device)
        self.name = f"rife {net.group}"

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> RifeInterpolator:
        """``path``: a ``flownet.pkl``, a local path or a URI ``rayapp.storage`` reads
        (tensors only: pickled code is refused)."""
        try:
            data = io.BytesIO(storage.read_bytes(str(path)))
            raw = torch.load(data, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - unreadable, truncated or code: one line
            raise WeightsError(f"{path}: not a readable RIFE checkpoint ({e})") from e
        if not isinstance(raw, Mapping):
            raise WeightsError(f"{path}: not a RIFE state dict ({type(raw).__name__})")
        state = {k.removeprefix("module."): v for k, v in raw.items()}
        try:
            group = rife_group(state)
        except WeightsError as e:
            raise WeightsError(f"{path}: {e}") from None
        net = IFNet(group)
        net.load_state_dict(state)
        return cls(net, device)

    def between(
        self,
        a: np.ndarray,
        b: np.ndarray,
        times: Sequence[float],
        sources: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[np.ndarray]:
        """The frames at each of ``times`` (strictly between 0 and 1) between ``a`` and
        ``b`` (HxWx3 RGB of one size and type, uint8 or uint16), of their size and type.
        ``sources`` (``rayapp.interpolate.Interpolator``): not read, RIFE sees the frames."""
        check_between(a, b, times)
        top = peak(a.dtype)
        h, w = a.shape[:2]
        align = self.net.align
        pad = (0, -w % align, 0, -h % align)

        def tensor(frame: np.ndarray) -> torch.Tensor:
            x = torch.from_numpy(np.ascontiguousarray(frame).astype(np.float32) / top)
            return F.pad(x.permute(2, 0, 1)[None].to(self.device), pad, mode="replicate")

        ta, tb = tensor(a), tensor(b)
        out = []
        with torch.inference_mode():
            for t in times:
                y = self.net(ta, tb, t)[0, :, :h, :w].clamp(0, 1)
                y = (y * top).round().permute(1, 2, 0).cpu().numpy()
                out.append(y.astype(a.dtype))
        return out
