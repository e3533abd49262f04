"""The model repository: a folder with one sub-folder (and `model.toml`) per model."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from saliency_service.errors import UnknownModel, quoted
from saliency_service.models.config import CONFIG_FILE, ModelConfigError, read_model_config
from saliency_service.models.loading import LoadedModel, load_model

log = logging.getLogger(__name__)


class ModelRepository:
    """Every model of a repository folder, loaded at start-up."""

    def __init__(self, models: dict[str, LoadedModel]) -> None:
        self._models = models

    @classmethod
    def load(cls, folder: Path, device: torch.device) -> ModelRepository:
        """Load every sub-folder of `folder` that has a `model.toml`.

        Raises:
            ModelConfigError: a model fails to load, or the folder holds none.
        """
        models: dict[str, LoadedModel] = {}
        for sub in sorted(p for p in folder.iterdir() if (p / CONFIG_FILE).is_file()):
            model = load_model(read_model_config(sub), device)
            if model.config.name in models:
                raise ModelConfigError(f"two models are called {model.config.name!r}")
            models[model.config.name] = model
        if not models:
            raise ModelConfigError(f"no model folders (with {CONFIG_FILE}) in {folder}")
        return cls(models)

    def names(self) -> list[str]:
        """The models' names, sorted."""
        return sorted(self._models)

    def has(self, name: str) -> bool:
        """Whether a model is called `name` (metric labels take only names the server knows)."""
        return name in self._models

    def get(self, name: str) -> LoadedModel:
        """The model called `name`.

        Raises:
            UnknownModel: no such model; the message lists the ones there are.
        """
        try:
            return self._models[name]
        except KeyError:
            raise UnknownModel(
                f"no model named {quoted(name)}; available: {', '.join(self.names())}"
            ) from None
