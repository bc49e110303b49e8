"""Model registry, weight sources, safe checkpoint loading."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from rayapp.errors import UnknownModelError, UnsafeCheckpointError, WeightsError
from rayapp.models import REGISTRY, cache_dir, get_spec, load_model
from rayapp.models._sources import resolve_weights
from rayapp.upscaler import Upscaler
from tests.unit.test_models_reference import photo

REQUIRED = {
    "realesrgan-x4plus",
    "realesrgan-x4plus-anime",
    "realesr-animevideov3",
    "realesr-general-x4v3",
    "realesrgan-x2plus",
    "swin2sr-realworld-x4",
    "swin2sr-classical-x2",
}


def test_registry_has_the_named_models() -> None:
    assert REQUIRED <= set(REGISTRY)
    for spec in REGISTRY.values():
        assert spec.genre in ("anime", "real", "general")
        assert spec.scale in (2, 4)
        assert spec.license
    offline = {s.name for s in REGISTRY.values() if s.offline}
    assert offline == {"realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3"}


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(UnknownModelError) as e:
        load_model("esrgan-9000")
    msg = str(e.value)
    assert "esrgan-9000" in msg
    for name in REQUIRED:
        assert name in msg
    with pytest.raises(KeyError):  # the builtin a caller may catch
        get_spec("nope")


def test_offline_weights_converted_once_with_checksum() -> None:
    path = Path(resolve_weights(get_spec("realesr-animevideov3")))
    assert path.parent == cache_dir() and path.suffix == ".safetensors"
    sidecar = path.with_name(path.name + ".sha256")
    mtime = path.stat().st_mtime_ns
    assert resolve_weights(get_spec("realesr-animevideov3")) == str(path)
    assert path.stat().st_mtime_ns == mtime  # reused, not converted again
    assert len(sidecar.read_text().strip()) == 64
    assert not [p for p in cache_dir().iterdir() if p.name.startswith(".rayapp-")]


def test_corrupt_cache_entry_is_rebuilt() -> None:
    path = Path(resolve_weights(get_spec("realesr-animevideov3")))
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    assert resolve_weights(get_spec("realesr-animevideov3")) == str(path)
    assert path.read_bytes() == good


def test_model_without_offline_weights_says_how_to_get_them() -> None:
    with pytest.raises(WeightsError, match="realesr-general-x4v3.*--weights"):
        load_model("realesr-general-x4v3")


@pytest.fixture(scope="module")
def compact_state() -> dict[str, torch.Tensor]:
    path = resolve_weights(get_spec("realesr-animevideov3"))
    from safetensors.torch import load_file

    return load_file(path)


def test_official_pth_with_params_ema_loads_by_path(
    tmp_path: Path, compact_state: dict[str, torch.Tensor]
) -> None:
    ckpt = tmp_path / "realesr-animevideov3.pth"
    torch.save({"params_ema": compact_state}, ckpt)
    image = photo(20, 16)
    by_path = Upscaler.load(str(ckpt)).upscale(image)
    by_name = Upscaler.load("realesr-animevideov3").upscale(image)
    np.testing.assert_array_equal(by_path, by_name)
    # a registry name with explicit weights uses them
    explicit = Upscaler.load("realesr-general-x4v3", weights=str(ckpt))
    np.testing.assert_array_equal(explicit.upscale(image), by_name)


def test_safetensors_from_s3_uri(
    tmp_path: Path, s3_bucket: str, compact_state: dict[str, torch.Tensor]
) -> None:
    from rayapp import storage

    local = tmp_path / "m.safetensors"
    save_file(compact_state, local)
    uri = f"{s3_bucket}/models/m.safetensors"
    storage.write_bytes(uri, local.read_bytes())
    desc = load_model(uri)
    assert desc.scale == 4 and desc.architecture == "Compact"


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pth"
    torch.save({"params_ema": {"body.0.weight": torch.zeros(1)}, "x": _Payload(marker)}, ckpt)
    with pytest.raises(UnsafeCheckpointError, match="evil.pth"):
        load_model(str(ckpt))
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_weights_name_the_file(
    tmp_path: Path, suffix: str, compact_state: dict[str, torch.Tensor]
) -> None:
    full = tmp_path / f"full{suffix}"
    if suffix == ".pth":
        torch.save(compact_state, full)
    else:
        save_file(compact_state, full)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    with pytest.raises(WeightsError, match=f"cut{suffix}"):
        load_model(str(cut))


def test_garbage_and_missing_weights(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="junk.pth"):
        load_model(str(junk))
    with pytest.raises(WeightsError, match="missing.safetensors"):
        load_model(str(tmp_path / "missing.safetensors"))


def test_unknown_architecture(tmp_path: Path) -> None:
    ckpt = tmp_path / "mystery.safetensors"
    save_file({"foo.weight": torch.zeros(3, 3)}, ckpt)
    with pytest.raises(WeightsError, match="not a model architecture"):
        load_model(str(ckpt))


def _tiny_swin2sr() -> torch.nn.Module:
    from spandrel.architectures.Swin2SR import Swin2SR

    torch.manual_seed(0)
    return Swin2SR(
        img_size=16,
        embed_dim=12,
        depths=[2],
        num_heads=[2],
        window_size=4,
        mlp_ratio=2.0,
        upscale=2,
        upsampler="pixelshuffledirect",
    ).eval()


def test_swin2sr_checkpoint_loads_and_runs(tmp_path: Path) -> None:
    net = _tiny_swin2sr()
    ckpt = tmp_path / "swin2sr_tiny.pth"
    torch.save({"params": net.state_dict()}, ckpt)
    up = Upscaler.load("swin2sr-classical-x2", weights=str(ckpt), precision="fp32")
    assert up.scale == 2
    image = photo(22, 18)  # not a multiple of the window: padded and cropped back
    out = up.upscale(image)
    assert out.shape == (36, 44, 3)
    with torch.inference_mode():
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        ref = net(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, np.round(ref * 255), atol=1)


def _random_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {k: torch.randn_like(v) * 0.1 for k, v in model.state_dict().items()}


def _spandrel_twins() -> list[tuple[str, dict[str, torch.Tensor]]]:
    """(what, state dict) of each shape the registry's own architectures take: the offline
    weights, and random ones at the scales and widths they do not ship."""
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN

    from rayapp.models._checkpoint import read_state_dict

    twins = [(n, read_state_dict(resolve_weights(get_spec(n)))) for n in
             ("realesr-animevideov3", "realesrgan-x4plus-anime")]  # fmt: skip
    for scale in (2, 3):
        net = Compact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=scale)
        twins.append((f"compact-x{scale}", _random_state(net, scale)))
    # spandrel's RRDBNet holds the old ESRGAN key names (the official ones, which the
    # registry's weights have, are built here): spandrel's to build.
    old = _random_state(ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=2), 4)
    twins.append(("esrgan-old-names", old))
    return twins


@pytest.mark.parametrize("index", range(5))
def test_the_registry_architectures_are_spandrels_to_the_bit(index: int) -> None:
    """Built here (the official key names) or by spandrel (any other), a network gives the
    same pixels, scale, purpose and padding as spandrel's own build of those weights."""
    import spandrel

    from rayapp.models._checkpoint import describe

    what, state = _spandrel_twins()[index]
    ours = describe(dict(state), what)
    ref = spandrel.ModelLoader().load_from_state_dict(dict(state))
    ref.model.eval()
    built_here = what != "esrgan-old-names"
    assert (type(ours.model).__module__ == "rayapp.models._networks") == built_here, what
    x = torch.rand(1, 3, 13, 19, generator=torch.Generator().manual_seed(index))
    with torch.inference_mode():
        assert torch.equal(ours.model(x), ref.model(x)), what
    req = ref.size_requirements
    assert (ours.architecture, ours.name, ours.purpose, ours.scale) == (
        ref.architecture.id,
        ref.architecture.name,
        ref.purpose,
        ref.scale,
    )
    assert ours.padding(1, 5) == req.get_padding(1, 5) and ours.padding(7, 8) == (0, 0)


def test_a_registry_model_loads_without_importing_spandrel() -> None:
    """spandrel's import builds every architecture it knows (over a second of every start);
    the registry's models need none of it."""
    import subprocess
    import sys

    code = (
        "import sys; from rayapp.upscaler import Upscaler\n"
        "up = Upscaler.load('realesrgan-x4plus-anime', device='cpu')\n"
        "print(up.scale, 'spandrel' in sys.modules, 'torchvision' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["4", "False", "False"], out.stderr[-2000:]
