"""The networks a loaded checkpoint becomes, and the registry's own two architectures.

``Network`` is what loading a checkpoint gives every caller: the ``torch.nn.Module`` in eval
mode with what the callers need to know about it (scale, channels, the precisions it runs
in, the padding its input needs, what it is for).

The registry's models are two architectures, built here after the official definitions and
with their key names (NOTICE.md): ``SRVGGNetCompact`` (Real-ESRGAN's; realesr-animevideov3)
and ``RRDBNet`` x4 (BasicSR's; RealESRGAN_x4plus and its anime 6-block model). A checkpoint
whose keys are exactly one of theirs is built here; every other goes to spandrel, which
knows many more. Why: importing spandrel imports all its architectures (LaMa pulls in
torchvision and ``torch._dynamo``), more than a second of every replica's and command's
start before its first frame.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Network", "RRDBNet", "SRVGGNetCompact", "build_known", "from_spandrel"]


@dataclass
class Network:
    """A network with its weights, in eval mode on the CPU.

    ``architecture``: spandrel's id of it ("Compact", "ESRGAN", "GFPGAN", ...); ``name``:
    how people call it ("RealESRGAN Compact"); ``purpose``: "SR", "FaceSR", "Restoration",
    ... (spandrel's words). The input is padded (``padding``) to at least ``minimum`` pixels
    a side, a multiple of ``multiple_of``, square when ``square``.
    """

    model: nn.Module
    architecture: str
    name: str
    purpose: str
    scale: int
    input_channels: int = 3
    output_channels: int = 3
    supports_half: bool = True
    supports_bfloat16: bool = True
    minimum: int = 0
    multiple_of: int = 1
    square: bool = False

    def padding(self, width: int, height: int) -> tuple[int, int]:
        """(pad width, pad height), each >= 0: the least that meets the size requirements."""
        w = -(-max(self.minimum, width) // self.multiple_of) * self.multiple_of
        h = -(-max(self.minimum, height) // self.multiple_of) * self.multiple_of
        if self.square:
            w = h = max(w, h)
        return w - width, h - height


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact network: convolutions with PReLU at low resolution, a pixel
    shuffle to ``upscale``, plus the nearest-upsampled input (the network learns the
    residual)."""

    def __init__(self, num_in_ch: int, num_out_ch: int, num_feat: int, num_conv: int,
                 upscale: int) -> None:  # fmt: skip
        super().__init__()
        self.upscale = upscale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        return out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")


class _DenseBlock(nn.Module):
    """Five convolutions, each seeing the input and every output before it."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        for i in range(1, 6):
            out = num_feat if i == 5 else num_grow_ch
            setattr(self, f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow_ch, out, 3, 1, 1))
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = [x]
        for i in range(1, 5):
            seen.append(self.lrelu(getattr(self, f"conv{i}")(torch.cat(seen, 1))))
        return self.conv5(torch.cat(seen, 1)) * 0.2 + x


class _RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = _DenseBlock(num_feat, num_grow_ch)
        self.rdb2 = _DenseBlock(num_feat, num_grow_ch)
        self.rdb3 = _DenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's residual-in-residual dense network at x4 (two nearest x2 upsamplings)."""

    def __init__(self, num_in_ch: int, num_out_ch: int, num_feat: int, num_block: int,
                 num_grow_ch: int) -> None:  # fmt: skip
        super().__init__()
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(_RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


def _compact(state: Mapping[str, torch.Tensor]) -> Network | None:
    found = [m for k in state if (m := re.fullmatch(r"body\.(\d+)\.(weight|bias)", k))]
    layers = 1 + max((int(m[1]) for m in found), default=-1)  # conv, PReLU, ..., conv
    convs = range(0, layers, 2)
    want = {f"body.{i}.{p}" for i in convs for p in ("weight", "bias")}
    want |= {f"body.{i}.weight" for i in range(1, layers - 1, 2)}
    if layers < 3 or layers % 2 == 0 or set(state) != want:
        return None
    first, last = state["body.0.weight"], state[f"body.{convs[-1]}.weight"]
    in_ch, feat = first.shape[1], first.shape[0]
    scale = round((last.shape[0] / in_ch) ** 0.5)
    if scale * scale * in_ch != last.shape[0]:
        return None
    model = SRVGGNetCompact(in_ch, in_ch, feat, len(convs) - 2, scale)
    return _loaded(model, state, "Compact", "RealESRGAN Compact", scale, in_ch)


_RRDB_KEY = re.compile(r"body\.(\d+)\.rdb[123]\.conv[1-5]\.(weight|bias)")


def _rrdb(state: Mapping[str, torch.Tensor]) -> Network | None:
    ends = ("conv_first", "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last")
    blocks = {int(m[1]) for k in state if (m := _RRDB_KEY.fullmatch(k))}
    want = {f"{e}.{p}" for e in ends for p in ("weight", "bias")}
    want |= {f"body.{b}.rdb{r}.conv{c}.{p}" for b in blocks for r in (1, 2, 3)
             for c in range(1, 6) for p in ("weight", "bias")}  # fmt: skip
    if not blocks or set(state) != want or blocks != set(range(len(blocks))):
        return None
    in_ch, feat = state["conv_first.weight"].shape[1], state["conv_first.weight"].shape[0]
    out_ch, grow = state["conv_last.weight"].shape[0], state["body.0.rdb1.conv1.weight"].shape[0]
    if in_ch != out_ch:  # pixel-unshuffled x2/x1 models: spandrel's
        return None
    model = RRDBNet(in_ch, out_ch, feat, len(blocks), grow)
    return _loaded(model, state, "ESRGAN", "ESRGAN", 4, in_ch, minimum=2)


def _loaded(model: nn.Module, state: Mapping[str, torch.Tensor], architecture: str,
            name: str, scale: int, channels: int, **size: Any) -> Network:  # fmt: skip
    model.load_state_dict(state, strict=True)
    purpose = "Restoration" if scale == 1 else "SR"
    return Network(model.eval(), architecture, name, purpose, scale, channels, channels, **size)


def build_known(state: Mapping[str, torch.Tensor]) -> Network | None:
    """The network of ``state`` when its keys are exactly those of the registry's
    architectures (official names); None for any other (spandrel's to detect)."""
    return _compact(state) or _rrdb(state)


def from_spandrel(desc: Any) -> Network:
    """A spandrel ``ImageModelDescriptor`` as a ``Network``."""
    req = desc.size_requirements
    return Network(
        desc.model, desc.architecture.id, desc.architecture.name, desc.purpose, desc.scale,
        desc.input_channels, desc.output_channels, desc.supports_half, desc.supports_bfloat16,
        req.minimum, req.multiple_of, req.square,
    )  # fmt: skip
