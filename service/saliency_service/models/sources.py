"""What a model's own files say about its input and classes, for the keys `model.toml` leaves out.

- timm: the architecture's pretrained config (mean, std, input size; `img_size` among the
  architecture's arguments wins), without building the network or reading any weights.
- Hugging Face: `config.json` (classes from `id2label`, `image_size`, `num_channels`) and, when
  present, `preprocessor_config.json` (`image_mean`, `image_std`, `size`). Both are JSON: data.
- ONNX: the input's static (C, H, W) and the output's number of classes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saliency_service.models.toml_fields import ModelConfigError, inside

HF_CONFIG = "config.json"
HF_PREPROCESSOR = "preprocessor_config.json"


@dataclass(frozen=True)
class SourceDefaults:
    height: int | None = None
    width: int | None = None
    channels: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    labels: tuple[str, ...] = ()
    num_classes: int | None = None


def implicit_source(folder: Path) -> tuple[str, str] | None:
    """("huggingface", ".") or ("onnx", file) for a folder without `model.toml`, else None."""
    if (folder / HF_CONFIG).is_file():
        return ("huggingface", ".")
    onnx = sorted(p.name for p in folder.glob("*.onnx") if p.is_file())
    return ("onnx", onnx[0]) if len(onnx) == 1 else None


def defaults(
    architecture: str | None,
    arguments: dict[str, Any],
    huggingface: Path | None,
    onnx: Path | None,
    where: str,
) -> SourceDefaults:
    """What the source's own metadata gives (empty for sources that have none)."""
    if architecture and architecture.startswith("timm:"):
        from saliency_service.models.timm_models import timm_defaults

        return timm_defaults(architecture.removeprefix("timm:"), arguments)
    if huggingface is not None:
        return huggingface_defaults(huggingface, where)
    if onnx is not None and not architecture:
        from saliency_service.models.onnx_only import onnx_defaults

        return onnx_defaults(onnx)
    return SourceDefaults()


def read_json(folder: Path, name: str) -> dict[str, Any]:
    """The JSON object in `folder/name` (a file inside `folder`).

    Raises:
        ModelConfigError: not a file inside the folder, or not a JSON object.
    """
    try:
        data = json.loads(inside(folder, folder / name).read_text())
    except (OSError, ValueError) as error:
        raise ModelConfigError(f"{name}: {error}") from None
    if not isinstance(data, dict):
        raise ModelConfigError(f"{name} must hold a JSON object")
    return data


def huggingface_type(folder: Path) -> str:
    """The `model_type` of a Hugging Face folder ("vit", "deit", "swin", ...)."""
    return str(read_json(folder, HF_CONFIG).get("model_type", "unknown"))


def huggingface_defaults(folder: Path, where: str) -> SourceDefaults:
    config = read_json(folder, HF_CONFIG)
    id2label = config.get("id2label") or {}
    try:
        labels = tuple(str(id2label[key]) for key in sorted(id2label, key=int))
    except (TypeError, ValueError):
        raise ModelConfigError(f"{HF_CONFIG}: 'id2label' keys must be class numbers") from None
    size = config.get("image_size")
    height = width = size if isinstance(size, int) else None
    if isinstance(size, list) and len(size) == 2:
        height, width = size
    mean = std = None
    if (folder / HF_PREPROCESSOR).exists():
        processor = read_json(folder, HF_PREPROCESSOR)
        if processor.get("do_normalize", True) is False:
            channels = int(config.get("num_channels", 3))
            mean, std = (0.0,) * channels, (1.0,) * channels
        else:
            mean = _floats(processor.get("image_mean"))
            std = _floats(processor.get("image_std"))
        given = processor.get("size")
        if isinstance(given, dict) and "height" in given and "width" in given:
            height, width = int(given["height"]), int(given["width"])
    return SourceDefaults(
        height=height,
        width=width,
        channels=config.get("num_channels"),
        mean=mean,
        std=std,
        labels=labels,
        num_classes=len(labels) or config.get("num_labels"),
    )


def _floats(value: object) -> tuple[float, ...] | None:
    if isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
        return tuple(float(v) for v in value)
    return None
