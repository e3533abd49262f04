"""A model's `model.toml`: what to load, how to feed it, what to call its classes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

CONFIG_FILE = "model.toml"


class ModelConfigError(ValueError):
    """The model folder's config is missing a key or has a bad value; the message names both."""


@dataclass(frozen=True)
class ModelConfig:
    """One model of the repository, as its folder's `model.toml` describes it.

    Exactly one of `architecture` (+ `weights`), `torchscript` or `exported_program` is set.
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

    @property
    def kind(self) -> str:
        """ "torchvision:resnet18", "builtin:shapes_cnn", "torchscript" or "exported_program"."""
        if self.architecture:
            return self.architecture
        return "torchscript" if self.torchscript else "exported_program"


def read_model_config(folder: Path) -> ModelConfig:
    """Parse `folder/model.toml`.

    Raises:
        ModelConfigError: the file is missing or invalid; the message names the file and key.
    """
    path = folder / CONFIG_FILE
    try:
        raw = tomllib.loads(_inside(folder, path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ModelConfigError(f"{path}: {error}") from None
    where = str(path)
    sources = [key for key in ("architecture", "torchscript", "exported_program") if key in raw]
    if len(sources) != 1:
        raise ModelConfigError(
            f"{where}: set exactly one of 'architecture', 'torchscript', 'exported_program'"
        )
    architecture = _opt(raw, "architecture", str, where)
    weights = _file(folder, _opt(raw, "weights", str, where), where, "weights")
    if architecture and weights is None:
        raise ModelConfigError(f"{where}: 'architecture' needs a 'weights' file")
    labels = _labels(folder, raw.get("labels"), where)
    num_classes = _opt(raw, "num_classes", int, where) or len(labels)
    if num_classes <= 0:
        raise ModelConfigError(f"{where}: 'num_classes' (or 'labels') must give at least 1 class")
    if labels and len(labels) != num_classes:
        raise ModelConfigError(f"{where}: {len(labels)} labels for {num_classes} classes")
    inputs = raw.get("input", {})
    channels = _opt(inputs, "channels", int, where + " [input]") or 3
    mean = tuple(float(v) for v in inputs.get("mean", [0.0] * channels))
    std = tuple(float(v) for v in inputs.get("std", [1.0] * channels))
    if len(mean) != channels or len(std) != channels or min(std) <= 0:
        raise ModelConfigError(f"{where} [input]: mean/std need {channels} values, std > 0")
    batching = raw.get("batching", {})
    return ModelConfig(
        name=_opt(raw, "name", str, where) or folder.name,
        folder=folder,
        architecture=architecture,
        weights=weights,
        torchscript=_file(folder, _opt(raw, "torchscript", str, where), where, "torchscript"),
        exported_program=_file(
            folder, _opt(raw, "exported_program", str, where), where, "exported_program"
        ),
        num_classes=num_classes,
        labels=labels or tuple(str(i) for i in range(num_classes)),
        cam_layer=_opt(raw, "cam_layer", str, where),
        height=_required_positive(inputs, "height", where + " [input]"),
        width=_required_positive(inputs, "width", where + " [input]"),
        channels=channels,
        mean=mean,
        std=std,
        max_batch_size=_opt(batching, "max_batch_size", int, where + " [batching]"),
        max_queue_delay_ms=_opt(batching, "max_queue_delay_ms", float, where + " [batching]"),
        instances=_opt(batching, "instances", int, where + " [batching]") or 1,
    )


def _opt(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        return None
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ModelConfigError(f"{where}: '{key}' must be {kind.__name__}, got {value!r}")
    return value


def _required_positive(table: dict[str, Any], key: str, where: str) -> int:
    value = _opt(table, key, int, where)
    if value is None or value <= 0:
        raise ModelConfigError(f"{where}: '{key}' is required and must be a positive integer")
    return int(value)


def _inside(folder: Path, path: Path) -> Path:
    """`path` resolved, if it is a file inside `folder` once links are followed."""
    resolved = path.resolve()
    # Model files come only from the model's own folder: no absolute paths, no `..` escapes,
    # no links to elsewhere.
    if folder.resolve() not in resolved.parents or not resolved.is_file():
        raise ModelConfigError(f"{path.name} is not a file inside {folder}")
    return resolved


def _file(folder: Path, name: str | None, where: str, key: str) -> Path | None:
    if name is None:
        return None
    try:
        return _inside(folder, folder / name)
    except ModelConfigError:
        message = f"{where}: '{key}' = {name!r} is not a file inside {folder}"
        raise ModelConfigError(message) from None


def _labels(folder: Path, value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(label) for label in value)
    if isinstance(value, str):
        text = cast(Path, _file(folder, value, where, "labels")).read_text()
        return tuple(line.strip() for line in text.splitlines() if line.strip())
    raise ModelConfigError(f"{where}: 'labels' must be a list or a file name")
