"""A training job end to end: a base model (an architecture, or a model folder to fine-tune),
a recipe run over a data set, its figures, and the model folder written.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from saliency_service.models.architectures import build_architecture
from saliency_service.models.classifier import Classifier
from saliency_service.models.config import read_model_config
from saliency_service.models.layers import default_cam_layer
from saliency_service.models.loading import load_network
from saliency_service.training.data import LabelledImages, in_order
from saliency_service.training.evaluation import accuracy, pgd_accuracy
from saliency_service.training.loop import TrainSettings, train
from saliency_service.training.model_folder import (
    FolderInput,
    fine_tuned_toml,
    model_toml,
    write_model_folder,
)
from saliency_service.training.progress import ProgressBar
from saliency_service.training.recipes import Recipe


@dataclass
class BaseModel:
    """The network to train, wrapped in its normalisation, and what its folder will say."""

    classifier: Classifier
    labels: tuple[str, ...]
    toml: str

    @property
    def network(self) -> torch.nn.Module:
        return self.classifier.network


def channel_stats(images: LabelledImages, limit: int = 2048) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the first `limit` images, rounded to 4 decimals (the values
    model.toml will hold, so training normalises with exactly those)."""
    total = squares = count = 0.0
    for batch in in_order(images, 256, limit=limit):
        pixels = batch.images.double().transpose(0, 1).flatten(1)
        total, squares = total + pixels.sum(1), squares + (pixels**2).sum(1)
        count += pixels.shape[1]
    mean = torch.as_tensor(total) / count
    std = (torch.as_tensor(squares) / count - mean**2).clamp_min(1e-12).sqrt()
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def fresh_model(architecture: str, images: LabelledImages, height: int, width: int,
                channels: int = 3) -> BaseModel:
    """An untrained `architecture` for the classes of `images`, normalised by their statistics.

    Raises:
        ModelConfigError: an unknown architecture.
    """
    mean, std = channel_stats(images)
    network = build_architecture(architecture, len(images.classes), channels=channels)
    layer = default_cam_layer(network, (channels, height, width))
    toml = model_toml(architecture, layer, FolderInput(height, width, channels, mean, std))
    return BaseModel(Classifier(network, mean, std), images.classes, toml)


def repository_model(folder: Path) -> BaseModel:
    """A model folder's network with its weights, to fine-tune; its labels and model.toml.

    Raises:
        ModelConfigError: the folder is invalid; ValueError: its model is not an architecture
            with weights (TorchScript, exported programs and ONNX files are not trained here).
    """
    config = read_model_config(folder)
    if config.architecture is None or config.weights is None:
        raise ValueError(f"{folder}: only models given as an architecture and weights can be "
                         "fine-tuned")
    network = load_network(config)
    toml = fine_tuned_toml((folder / "model.toml").read_text(), config.weights.name)
    return BaseModel(Classifier(network, config.mean, config.std), config.labels, toml)


def run_job(base: BaseModel, train_set: LabelledImages, val_set: LabelledImages | None,
            recipe: Recipe, settings: TrainSettings, out: Path | None, data: str = "",
            device: torch.device | None = None, eval_limit: int = 1000,
            progress: ProgressBar | None = None) -> dict[str, Any]:
    """Train `base` with `recipe`, measure it on `val_set` (clean, and 5-step PGD at the
    recipe's ε as in the SAT paper), write its folder under `out` (if given); the report."""
    if base.labels and tuple(base.labels) != tuple(train_set.classes):
        raise ValueError(f"the data's classes {list(train_set.classes)} are not the model's "
                         f"labels {list(base.labels)}")
    torch.manual_seed(settings.seed)
    model = base.classifier.to(device or torch.device("cpu"))
    state = train(model, train_set, val_set, recipe, settings, data=data, progress=progress)
    final: dict[str, float] = {}
    if val_set is not None and len(val_set):
        final["val_accuracy"] = accuracy(model, val_set, limit=eval_limit)
        final["val_pgd5_accuracy"] = pgd_accuracy(model, val_set, recipe.eps, limit=eval_limit)
    report = {
        "recipe": asdict(recipe.resolved()),
        "settings": {k: (str(v) if isinstance(v, Path) else v)
                     for k, v in asdict(settings).items()},
        "data": data, "train_images": len(train_set), "classes": list(train_set.classes),
        "history": state.history, "final": final, "training_seconds": state.seconds,
        "torch": torch.__version__, "machine": platform.machine(),
        "threads": torch.get_num_threads(), "load_average": list(os.getloadavg()),
    }
    if out is not None:
        write_model_folder(out, base.network.cpu(), base.toml, train_set.classes, report)
        model.to(device or torch.device("cpu"))
    return report
