"""Model folders in every format users bring, each with seeded random weights, and in-process
copies of the same networks built independently of the server's loaders (the oracles).

Everything is tiny (32–64 px, a few hundred thousand weights) so a server over all of them
starts in seconds of compute. ONNX files that a folder ships are written with torch's
TorchScript-based exporter, which takes a second where the server's export takes many.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import safetensors.torch
import torch
from saliency_service.models.shapes_cnn import ShapesCNN
from torch import nn

CLASSES = 4
SIZE = 32
CNN_SIZE = 64
HF_MEAN, HF_STD = [0.5, 0.4, 0.3], [0.2, 0.3, 0.25]
VIT_ARGS = {"img_size": SIZE, "patch_size": 8}


def _save(network: nn.Module, path: Path) -> None:
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    safetensors.torch.save_file(state, str(path))


def timm_network(arch: str, seed: int = 0, **arguments: object) -> nn.Module:
    import timm

    torch.manual_seed(seed)
    network: nn.Module = timm.create_model(
        arch, pretrained=False, num_classes=CLASSES, **arguments
    ).eval()
    return network


def write_timm(repository: Path, name: str, arch: str, size: int, **arguments: object) -> Path:
    """A timm folder: model.toml names the architecture; mean/std come from timm's config."""
    folder = repository / name
    folder.mkdir(parents=True)
    _save(timm_network(arch, **arguments), folder / "weights.safetensors")
    lines = [f'architecture = "timm:{arch}"', 'weights = "weights.safetensors"',
             f"num_classes = {CLASSES}", "[input]", f"height = {size}", f"width = {size}"]
    if arguments:
        lines += ["[architecture_args]", *(f"{k} = {v}" for k, v in arguments.items())]
    (folder / "model.toml").write_text("\n".join(lines) + "\n")
    return folder


def hf_vit_network(seed: int = 0) -> nn.Module:
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(seed)
    config = ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=SIZE, patch_size=8, num_labels=CLASSES,
        id2label={i: f"class{i}" for i in range(CLASSES)},
    )
    return ViTForImageClassification(config).eval()


def write_hf_vit(repository: Path, name: str) -> Path:
    """A Hugging Face folder as transformers saves it, no model.toml."""
    folder = repository / name
    hf_vit_network().save_pretrained(str(folder))
    (folder / "preprocessor_config.json").write_text(json.dumps(
        {"image_mean": HF_MEAN, "image_std": HF_STD, "size": {"height": SIZE, "width": SIZE}}
    ))
    return folder


def shapes_network(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return ShapesCNN(num_classes=CLASSES).eval()


def onnx_bytes(network: nn.Module, size: int = SIZE) -> bytes:
    """The network's ONNX export (dynamic batch), by torch's older, faster exporter."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network.eval(), (torch.rand(2, 3, size, size),), buffer, dynamo=False,
            input_names=["images"], output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}},
        )
    return buffer.getvalue()


class Pixels(nn.Module):
    """Pixels in [0, 1] → the network's logits, with its normalisation (for ONNX files that
    take pixels, as the server's own exports do)."""

    def __init__(self, network: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network((images - self.mean) / self.std)  # type: ignore[no-any-return]


def write_exported(repository: Path, name: str, seed: int = 0) -> Path:
    """A torch.export archive of the shapes CNN, shipping its own ONNX export."""
    folder = repository / name
    folder.mkdir(parents=True)
    network = shapes_network(seed)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(
        network, (torch.rand(2, 3, SIZE, SIZE),), dynamic_shapes=({0: batch},)
    )
    torch.export.save(program, str(folder / "model.pt2"))
    (folder / "model.onnx").write_bytes(onnx_bytes(Pixels(network, [0.0] * 3, [1.0] * 3)))
    (folder / "model.toml").write_text(
        f'exported_program = "model.pt2"\nonnx = "model.onnx"\nnum_classes = {CLASSES}\n'
        f"[input]\nheight = {SIZE}\nwidth = {SIZE}\n"
    )
    return folder


def write_onnx_only(repository: Path, name: str, seed: int = 0) -> Path:
    """A folder with nothing but an ONNX file (its input size and classes from the file)."""
    folder = repository / name
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(onnx_bytes(shapes_network(seed)))
    return folder


def write_shapes_version(folder: Path, seed: int, *, instances: int = 1) -> Path:
    """One version folder of the shapes CNN (seeded weights, its own ONNX file)."""
    folder.mkdir(parents=True)
    network = shapes_network(seed)
    _save(network, folder / "weights.safetensors")
    (folder / "model.onnx").write_bytes(onnx_bytes(Pixels(network, [0.0] * 3, [1.0] * 3)))
    (folder / "model.toml").write_text(
        'architecture = "builtin:shapes_cnn"\nweights = "weights.safetensors"\n'
        f'onnx = "model.onnx"\nnum_classes = {CLASSES}\n'
        f"[input]\nheight = {SIZE}\nwidth = {SIZE}\n[batching]\ninstances = {instances}\n"
    )
    return folder
