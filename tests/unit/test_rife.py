"""RIFE checkpoints by path: a flownet.pkl of each group we know, made from our architecture
with random weights and saved as Practical-RIFE saves it, loads and runs; anything else is
refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rayapp.errors import WeightsError
from rayapp.rife import GROUPS, IFNet, RifeInterpolator, _backwarp


def saved(net: torch.nn.Module, path: Path, prefix: str = "module.") -> Path:
    """``net``'s state dict as a DDP-wrapped IFNet's ``flownet.pkl``."""
    torch.save({prefix + k: v for k, v in net.state_dict().items()}, path)
    return path


@pytest.mark.parametrize("group", list(GROUPS))
def test_a_flownet_of_each_group_loads_by_path_and_runs(group: str, tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = IFNet(group)
    loaded = RifeInterpolator.load(saved(net, tmp_path / "flownet.pkl"))
    assert loaded.net.group == group
    for name, value in net.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[name], value), name
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (50, 70, 3), dtype=np.uint8) for _ in range(2))
    made = loaded.between(a, b, [0.25, 0.5])
    assert [(m.shape, m.dtype) for m in made] == [((50, 70, 3), np.uint8)] * 2
    deep = loaded.between(a.astype(np.uint16) * 257, b.astype(np.uint16) * 257, [0.5])
    assert deep[0].dtype == np.uint16
    bare = RifeInterpolator.load(saved(net, tmp_path / "bare.pkl", prefix=""))
    assert bare.net.group == group


def test_other_state_dicts_are_refused_in_one_line_naming_the_groups(tmp_path: Path) -> None:
    state = {f"module.{k}": v for k, v in IFNet("4.6").state_dict().items()}
    no_last_block = {k: v for k, v in state.items() if not k.startswith("module.block3.")}
    torch.save(no_last_block, tmp_path / "flownet.pkl")
    with pytest.raises(WeightsError) as refused:
        RifeInterpolator.load(tmp_path / "flownet.pkl")
    line = str(refused.value)
    assert "\n" not in line and "flownet.pkl: not a RIFE flownet" in line
    assert "RIFE 4.6 (4 blocks), 4.25 (5 blocks)" in line
    torch.save(torch.nn.Conv2d(3, 3, 3), tmp_path / "code.pkl")  # a pickled module: code
    with pytest.raises(WeightsError, match="code.pkl: not a readable RIFE checkpoint"):
        RifeInterpolator.load(tmp_path / "code.pkl")


def test_the_warp_follows_the_flow_in_pixels() -> None:
    image = torch.arange(5 * 7, dtype=torch.float32).reshape(1, 1, 5, 7)
    flow = torch.zeros(1, 2, 5, 7)
    assert torch.allclose(_backwarp(image, flow), image)
    flow[:, 0] = 2.0  # each pixel takes the one two to its right
    shifted = _backwarp(image, flow)
    assert torch.allclose(shifted[..., :5], image[..., 2:], atol=1e-4)
    assert torch.allclose(shifted[..., 5:], image[..., 6:].expand(1, 1, 5, 2), atol=1e-4)
