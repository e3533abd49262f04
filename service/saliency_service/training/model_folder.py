"""The model folder a training run writes, which the server loads as is.

    weights.safetensors   the trained network's state (tensors only)
    labels.txt            one class name per line
    model.toml            architecture, input size and normalisation (the base model's own
                          file for a fine-tuned model, its `name` dropped: the folder names it)
    training.json         the recipe, settings, data, the per-epoch curves and final figures
    curves.png            the curves: loss and accuracies per epoch
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from safetensors.torch import save_file
from torch import nn

WEIGHTS = "weights.safetensors"
LABELS = "labels.txt"
REPORT = "training.json"
CURVES = "curves.png"
# A top-level `name = ...` line of a base model's model.toml.
_NAME_LINE = re.compile(r"^name\s*=.*\n?", re.MULTILINE)


@dataclass(frozen=True)
class FolderInput:
    """What model.toml says about the network's input: size and normalisation."""

    height: int
    width: int
    channels: int
    mean: Sequence[float]
    std: Sequence[float]


def model_toml(architecture: str, cam_layer: str | None, shape: FolderInput) -> str:
    """A model.toml for `architecture` trained from scratch."""
    def floats(values: Sequence[float]) -> str:
        return ", ".join(f"{v:.6g}" for v in values)

    layer = f'cam_layer = "{cam_layer}"\n' if cam_layer else ""
    return (f'architecture = "{architecture}"\nweights = "{WEIGHTS}"\nlabels = "{LABELS}"\n'
            f"{layer}[input]\nheight = {shape.height}\nwidth = {shape.width}\n"
            f"channels = {shape.channels}\nmean = [{floats(shape.mean)}]\n"
            f"std = [{floats(shape.std)}]\n")


def fine_tuned_toml(base_toml: str, weights_name: str) -> str:
    """The base model's model.toml for its fine-tuned copy: no `name` line (the new folder
    names the model), the weights at `weights_name`."""
    return _NAME_LINE.sub("", base_toml).replace(f'"{weights_name}"', f'"{WEIGHTS}"')


def write_model_folder(out: Path, network: nn.Module, toml: str, labels: Sequence[str],
                       report: Mapping[str, Any]) -> Path:
    """Write the folder under `out` (created; files in it replaced); returns `out`."""
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in network.state_dict().items()}
    save_file(state, str(out / WEIGHTS))
    (out / LABELS).write_text("".join(f"{name}\n" for name in labels))
    (out / "model.toml").write_text(toml)
    (out / REPORT).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    draw_curves(report.get("history", []), out / CURVES)
    return out


COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189))


def draw_curves(history: Sequence[Mapping[str, float]], path: Path, width: int = 640,
                height: int = 360) -> None:
    """A PNG of every curve of `history` (one dict per epoch) over the epochs: the loss scaled
    to its maximum, the accuracies as they are (both in [0, 1]); a legend names them."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 40, 20, width - 170, height - 30
    draw.rectangle((left, top, right, bottom), outline="black")
    draw.text((8, top - 4), "1", fill="black")
    draw.text((8, bottom - 8), "0", fill="black")
    keys = [k for k in (history[0] if history else {})
            if k == "loss" or k.endswith("accuracy")]
    epochs = len(history)
    for index, key in enumerate(keys):
        values = [float(record.get(key, 0.0)) for record in history]
        scale = max(max(values), 1e-12) if key == "loss" else 1.0
        points = [(left + (right - left) * (i / max(epochs - 1, 1)),
                   bottom - (bottom - top) * min(max(v / scale, 0.0), 1.0))
                  for i, v in enumerate(values)]
        colour = COLOURS[index % len(COLOURS)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        label = "loss (/ max)" if key == "loss" else key
        draw.text((right + 10, top + 16 * index), label, fill=colour)
    draw.text((left, bottom + 8), f"epochs 1-{epochs}", fill="black")
    image.save(path)
