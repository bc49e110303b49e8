"""The optional perceptual term of the training loss, as Real-ESRGAN trains it: the L1
distance of VGG19 features (before their ReLU) of the output and of the target, on
ImageNet-normalised inputs, weighted per layer (conv1_2 and conv2_2 0.1, conv3_4, conv4_4
and conv5_4 1.0).

Off by default (``TrainJobConfig.perceptual_weight = 0``): VGG19's ImageNet weights cannot
be downloaded here, so the user gives them (``perceptual_weights``: a path or URI of
torchvision's ``vgg19`` state dict, ``.pth`` or ``.safetensors``; only ``features.*`` is
read).
"""

from __future__ import annotations

import io

import torch
from torch import nn

from rayapp import storage
from rayapp.errors import WeightsError

__all__ = ["LAYER_WEIGHTS", "PerceptualLoss"]

# torchvision vgg19().features index of each conv layer Real-ESRGAN uses -> its weight
LAYER_WEIGHTS = {2: 0.1, 7: 0.1, 16: 1.0, 25: 1.0, 34: 1.0}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class PerceptualLoss(nn.Module):
    """``loss(output, target)`` on NCHW RGB in [0, 1]; VGG19 stays frozen."""

    def __init__(self, weights_uri: str) -> None:
        import torchvision

        super().__init__()
        vgg = torchvision.models.vgg19(weights=None).features[: max(LAYER_WEIGHTS) + 1]
        state = _features(weights_uri)
        missing = [k for k in vgg.state_dict() if k not in state]
        if missing:
            raise WeightsError(
                f"{weights_uri} is not a torchvision VGG19 state dict (no features.{missing[0]})"
            )
        vgg.load_state_dict({k: state[k] for k in vgg.state_dict()})
        self.vgg = vgg.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (output - self.mean) / self.std
        y = (target - self.mean) / self.std
        loss = output.new_zeros(())
        for i, layer in enumerate(self.vgg):
            x, y = layer(x), layer(y)
            if i in LAYER_WEIGHTS:
                loss = loss + LAYER_WEIGHTS[i] * nn.functional.l1_loss(x, y.detach())
        return loss


def _features(uri: str) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a VGG19 checkpoint, without the ``features.`` prefix."""
    data = storage.read_bytes(uri)
    if uri.endswith(".safetensors"):
        from safetensors.torch import load

        state = load(data)
    else:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
