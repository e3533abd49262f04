"""A model's `model.toml`: what to load, how to feed it, what to call its classes, how to serve it.

Sources (exactly one): `architecture` (+ `weights`), `torchscript`, `exported_program`,
`huggingface` (a folder in transformers' format); `onnx` goes with any of them (the model's own
ONNX export, used by ONNX Runtime instead of exporting at load) or alone (an ONNX-only model,
served for forward passes only). A folder without `model.toml` is read as a Hugging Face folder
when it holds `config.json`, or as an ONNX-only model when it holds one `.onnx` file.

Keys the file leaves out come from the model's own metadata where it has some (sources.py): a
timm architecture's pretrained config, a Hugging Face folder's `config.json` and
`preprocessor_config.json`, an ONNX file's input and output shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from saliency_service.models import sources
from saliency_service.models.toml_fields import (
    ModelConfigError,
    check_keys,
    choice,
    file_key,
    numbers,
    optional,
    positive,
    read_toml,
    table,
)

__all__ = ["CONFIG_FILE", "ModelConfig", "ModelConfigError", "is_model_folder", "read_model_config"]

CONFIG_FILE = "model.toml"
SOURCES = ("architecture", "torchscript", "exported_program", "huggingface")
AUTOCAST = ("off", "bfloat16", "float16")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
KEYS = {
    "name": "the model's name (default: its folder's)",
    "architecture": '"torchvision:<name>", "timm:<name>" or "builtin:shapes_cnn"',
    "weights": "safetensors file (or a plain .pt state dict) for `architecture`",
    "architecture_args": "table of keyword arguments for the architecture's constructor",
    "torchscript": "TorchScript file (only with --trust-torchscript)",
    "exported_program": "torch.export.save archive (.pt2)",
    "huggingface": "folder (usually \".\") with config.json and model.safetensors",
    "onnx": "the model's ONNX file",
    "num_classes": "number of classes",
    "labels": "file with one label per line, or a list",
    "cam_layer": "default layer of CAM methods",
    "input": "table: height, width, channels, mean, std",
    "batching": "table: max_batch_size, max_queue_delay_ms, instances",
    "precision": "table: autocast",
}
INPUT_KEYS = {k: k for k in ("height", "width", "channels", "mean", "std")}
BATCHING_KEYS = {k: k for k in ("max_batch_size", "max_queue_delay_ms", "instances")}
PRECISION_KEYS = {"autocast": "off, bfloat16 or float16 (default: the server's --autocast)"}
# Keyword arguments that would make an architecture read a file or download weights.
LOADING_ARGS = re.compile(r"pretrained.*|checkpoint.*|.*(path|file|url|dir|cache).*")


@dataclass(frozen=True)
class ModelConfig:
    """One model (one version of it) of the repository, as its folder describes it.

    Exactly one of `architecture` (+ `weights`), `torchscript`, `exported_program`,
    `huggingface` or, alone, `onnx` is the model's source.
    """

    name: str
    folder: Path
    architecture: str | None
    weights: Path | None
    torchscript: Path | None
    exported_program: Path | None
    num_classes: int
    labels: tuple[str, ...]
    cam_layer: str | None
    height: int
    width: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    max_batch_size: int | None
    max_queue_delay_ms: float | None
    instances: int
    huggingface: Path | None = None
    onnx: Path | None = None
    architecture_args: tuple[tuple[str, Any], ...] = ()
    # None: the server's --autocast setting.
    autocast: str | None = None
    # The version folder's name; "" for a model folder without versions.
    version: str = ""

    @property
    def kind(self) -> str:
        """ "torchvision:resnet18", "timm:vit_small_patch16_224", "huggingface:vit", "onnx", ..."""
        if self.architecture:
            return self.architecture
        if self.huggingface is not None:
            return f"huggingface:{sources.huggingface_type(self.huggingface)}"
        if self.torchscript:
            return "torchscript"
        return "exported_program" if self.exported_program else "onnx"

    @property
    def forward_only(self) -> bool:
        """An ONNX-only model: ONNX Runtime runs its forward passes; it has no gradients."""
        return self.onnx is not None and not any(
            (self.architecture, self.torchscript, self.exported_program, self.huggingface)
        )


def is_model_folder(folder: Path) -> bool:
    """Whether `folder` holds a model: a `model.toml`, a Hugging Face `config.json`, or one
    `.onnx` file."""
    return (folder / CONFIG_FILE).is_file() or sources.implicit_source(folder) is not None


def read_model_config(folder: Path, version: str = "") -> ModelConfig:
    """Parse `folder/model.toml` (or infer it for a bare Hugging Face or ONNX folder).

    Raises:
        ModelConfigError: the file is missing or invalid; the message names the file and key.
    """
    path = folder / CONFIG_FILE
    where = str(path)
    if path.exists():
        raw = read_toml(folder, path)
    else:
        implicit = sources.implicit_source(folder)
        if implicit is None:
            raise ModelConfigError(f"{where}: no such file (nor config.json or one .onnx file)")
        raw = dict([implicit])
    check_keys(raw, KEYS, where)
    given = [key for key in SOURCES if key in raw]
    if len(given) > 1 or not (given or "onnx" in raw):
        raise ModelConfigError(f"{where}: set exactly one of {', '.join(SOURCES)} (or only onnx)")
    architecture = optional(raw, "architecture", str, where)
    weights = file_key(folder, optional(raw, "weights", str, where), where, "weights")
    if architecture and weights is None:
        raise ModelConfigError(f"{where}: 'architecture' needs a 'weights' file")
    if weights is not None and not architecture:
        raise ModelConfigError(f"{where}: 'weights' goes with 'architecture' only")
    arguments = _architecture_args(raw, architecture, where)
    huggingface = _folder(folder, optional(raw, "huggingface", str, where), where)
    onnx = file_key(folder, optional(raw, "onnx", str, where), where, "onnx")
    found = sources.defaults(architecture, dict(arguments), huggingface, onnx, where)
    labels = _labels(folder, raw.get("labels"), where) or found.labels
    num_classes = positive(raw, "num_classes", int, where) or len(labels) or found.num_classes
    if not num_classes:
        raise ModelConfigError(f"{where}: 'num_classes' (or 'labels') must give at least 1 class")
    if labels and len(labels) != num_classes:
        raise ModelConfigError(f"{where}: {len(labels)} labels for {num_classes} classes")
    inputs = table(raw, "input", where)
    at = where + " [input]"
    check_keys(inputs, INPUT_KEYS, at)
    channels = positive(inputs, "channels", int, at) or found.channels or 3
    mean = numbers(inputs, "mean", at) or found.mean or (0.0,) * channels
    std = numbers(inputs, "std", at) or found.std or (1.0,) * channels
    if len(mean) != channels or len(std) != channels or min(std) <= 0:
        raise ModelConfigError(f"{at}: 'mean'/'std' need {channels} values each, std > 0")
    batching = table(raw, "batching", where)
    check_keys(batching, BATCHING_KEYS, where + " [batching]")
    precision = table(raw, "precision", where)
    check_keys(precision, PRECISION_KEYS, where + " [precision]")
    delay = optional(batching, "max_queue_delay_ms", float, where + " [batching]")
    if delay is not None and delay < 0:
        raise ModelConfigError(f"{where} [batching]: 'max_queue_delay_ms' must not be negative")
    return ModelConfig(
        name=_name(raw, folder, version, where),
        folder=folder,
        architecture=architecture,
        weights=weights,
        torchscript=file_key(folder, optional(raw, "torchscript", str, where), where,
                             "torchscript"),
        exported_program=file_key(
            folder, optional(raw, "exported_program", str, where), where, "exported_program"
        ),
        num_classes=num_classes,
        labels=labels or tuple(str(i) for i in range(num_classes)),
        cam_layer=optional(raw, "cam_layer", str, where),
        height=_size(inputs, "height", found.height, at),
        width=_size(inputs, "width", found.width, at),
        channels=channels,
        mean=mean,
        std=std,
        max_batch_size=positive(batching, "max_batch_size", int, where + " [batching]"),
        max_queue_delay_ms=delay,
        instances=positive(batching, "instances", int, where + " [batching]") or 1,
        huggingface=huggingface,
        onnx=onnx,
        architecture_args=arguments,
        autocast=choice(precision, "autocast", AUTOCAST, where + " [precision]"),
        version=version,
    )


def _name(raw: dict[str, Any], folder: Path, version: str, where: str) -> str:
    # A version folder's model is named by the folder above it.
    default = folder.parent.name if version else folder.name
    name = optional(raw, "name", str, where) or default
    if version and name != default:
        raise ModelConfigError(f"{where}: 'name' must be the model folder's name, {default!r}")
    if not NAME.fullmatch(name):
        raise ModelConfigError(
            f"{where}: model name {name[:40]!r} must be letters, digits, '.', '_' or '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return str(name)


def _size(inputs: dict[str, Any], key: str, found: int | None, where: str) -> int:
    value = positive(inputs, key, int, where) or found
    if value is None:
        raise ModelConfigError(f"{where}: '{key}' is required and must be a positive integer")
    return int(value)


def _architecture_args(
    raw: dict[str, Any], architecture: str | None, where: str
) -> tuple[tuple[str, Any], ...]:
    arguments = table(raw, "architecture_args", where)
    if arguments and not (architecture or "").startswith(("timm:", "torchvision:")):
        raise ModelConfigError(f"{where}: 'architecture_args' applies to timm and torchvision")
    for key, value in arguments.items():
        if LOADING_ARGS.fullmatch(key) or key == "num_classes":
            raise ModelConfigError(
                f"{where} [architecture_args]: {key!r} is not allowed (weights come from "
                "'weights' only, classes from 'num_classes' or 'labels')"
            )
        if isinstance(value, dict):
            raise ModelConfigError(f"{where} [architecture_args]: {key!r} must not be a table")
    return tuple(sorted(arguments.items()))


def _folder(folder: Path, name: str | None, where: str) -> Path | None:
    if name is None:
        return None
    resolved = (folder / name).resolve()
    if resolved != folder.resolve() and folder.resolve() not in resolved.parents:
        raise ModelConfigError(f"{where}: 'huggingface' = {name!r} is not inside {folder}")
    if not resolved.is_dir():
        raise ModelConfigError(f"{where}: 'huggingface' = {name!r} is not a folder")
    return resolved


def _labels(folder: Path, value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(label) for label in value)
    if isinstance(value, str):
        text = cast(Path, file_key(folder, value, where, "labels")).read_text()
        return tuple(line.strip() for line in text.splitlines() if line.strip())
    raise ModelConfigError(f"{where}: 'labels' must be a list or a file name")
