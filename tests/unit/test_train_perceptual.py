"""The optional perceptual term: VGG19 features of a checkpoint the user gives (a random one
here: ImageNet's weights cannot be downloaded), against torchvision's own VGG19 run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from rayapp.errors import WeightsError
from rayapp.train import TrainJobConfig
from rayapp.train.perceptual import LAYER_WEIGHTS, PerceptualLoss


@pytest.fixture(scope="module")
def vgg(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, str]:
    torch.manual_seed(0)
    model = torchvision.models.vgg19(weights=None).eval()
    path = tmp_path_factory.mktemp("vgg") / "vgg19.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model, str(path)


def test_the_loss_is_realesrgans_weighted_feature_l1(vgg: tuple[torch.nn.Module, str]) -> None:
    model, path = vgg
    loss = PerceptualLoss(path)
    torch.manual_seed(1)
    a, b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    assert loss(a, a).item() == 0.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x, y, want = (a - mean) / std, (b - mean) / std, 0.0
    with torch.no_grad():
        for i, layer in enumerate(model.features[:35]):
            x, y = layer(x), layer(y)
            if i in LAYER_WEIGHTS:
                want += LAYER_WEIGHTS[i] * (x - y).abs().mean().item()
    a.requires_grad_(True)
    got = loss(a, b)
    assert got.item() == pytest.approx(want, rel=1e-5)
    got.backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.parameters())  # VGG stays frozen


def test_bad_weights_and_configs_are_clear(tmp_path: Path) -> None:
    other = tmp_path / "other.safetensors"
    save_file({"features.0.weight": torch.zeros(1)}, str(other))
    with pytest.raises(WeightsError, match="not a torchvision VGG19 state dict"):
        PerceptualLoss(str(other))
    with pytest.raises(ValueError, match="perceptual_weight needs perceptual_weights"):
        TrainJobConfig(videos=("a.mp4",), output=str(tmp_path), perceptual_weight=0.1)
