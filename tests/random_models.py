"""Model repositories with small random-weight networks, written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch
from saliency_service.models.architectures import build_architecture


def write_model(
    repository: Path,
    name: str,
    *,
    architecture: str = "builtin:shapes_cnn",
    num_classes: int = 4,
    size: int = 32,
    batching: dict[str, float] | None = None,
    seed: int = 0,
) -> Path:
    """A model folder `repository/name` with seeded random weights; returns the repository."""
    folder = repository / name
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    network = build_architecture(architecture, num_classes).eval()
    safetensors.torch.save_file(
        {k: v.contiguous() for k, v in network.state_dict().items()},
        str(folder / "weights.safetensors"),
    )
    lines = [
        f'architecture = "{architecture}"',
        'weights = "weights.safetensors"',
        f"num_classes = {num_classes}",
        "[input]",
        f"height = {size}",
        f"width = {size}",
    ]
    if batching:
        lines.append("[batching]")
        lines += [f"{key} = {value}" for key, value in batching.items()]
    (folder / "model.toml").write_text("\n".join(lines) + "\n")
    return repository
