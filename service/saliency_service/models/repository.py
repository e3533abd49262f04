"""The model repository: a folder with one sub-folder (and `model.toml`) per model.

Readiness. Every model folder is loaded at start-up, each on its own: one that fails (a config
error, a corrupt or refused file, weights that do not fit) is kept as *not ready* with a short
reason, and the others serve. `not_ready()` gives the reasons (ListModels and GetModel report
them); a request naming such a model gets `ModelNotReady` (UNAVAILABLE). When no model at all
loads, `load` raises, and `saliency-server` exits with status 2 and every model's reason: a
server that could only answer errors is a failed deployment, better seen at once than running.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from saliency_service.errors import ModelNotReady, UnknownModel, quoted
from saliency_service.models.config import (
    CONFIG_FILE,
    ModelConfig,
    ModelConfigError,
    read_model_config,
)
from saliency_service.models.loading import LoadedModel, load_model

log = logging.getLogger(__name__)
MAX_REASON_CHARS = 300


class ModelRepository:
    """Every model of a repository folder, loaded at start-up, and the ones that failed to."""

    def __init__(
        self, models: dict[str, LoadedModel], not_ready: dict[str, str] | None = None
    ) -> None:
        self._models = models
        self._not_ready = dict(not_ready or {})

    @classmethod
    def load(
        cls, folder: Path, device: torch.device, *, trust_torchscript: bool = False
    ) -> ModelRepository:
        """Load every sub-folder of `folder` that has a `model.toml`.

        Args:
            trust_torchscript: load TorchScript models (programs; see loading.load_network).

        Raises:
            ModelConfigError: no model loads (or the folder holds none); the message has every
                model's reason.
        """
        root = folder.resolve()
        models: dict[str, LoadedModel] = {}
        not_ready: dict[str, str] = {}
        for sub in sorted(p for p in folder.iterdir() if (p / CONFIG_FILE).is_file()):
            name = sub.name
            try:
                config = _read_config(sub, root)
                if config.name in models or config.name in not_ready:
                    raise ModelConfigError(f"another model is called {config.name!r}")
                name = config.name
                models[name] = load_model(config, device, trust_torchscript=trust_torchscript)
            except Exception as error:  # noqa: BLE001 - one model's failure must not stop the rest
                not_ready[name] = _short(error, root)
                log.error("model %s is not ready: %s", name, not_ready[name])
                log.debug("model %s failed to load", name, exc_info=error)
        if not models:
            reasons = "; ".join(f"{name}: {reason}" for name, reason in not_ready.items())
            raise ModelConfigError(
                f"no model is ready in {folder}" + (f" ({reasons})" if reasons else
                                                    f": no sub-folder has a {CONFIG_FILE}")
            )
        return cls(models, not_ready)

    def names(self) -> list[str]:
        """The ready models' names, sorted."""
        return sorted(self._models)

    def has(self, name: str) -> bool:
        """Whether a model, ready or not, is called `name` (metric labels take only names the
        server knows)."""
        return name in self._models or name in self._not_ready

    def not_ready(self) -> dict[str, str]:
        """The models that failed to load (by name, else by folder), each with its reason."""
        return dict(sorted(self._not_ready.items()))

    def get(self, name: str) -> LoadedModel:
        """The ready model called `name`.

        Raises:
            ModelNotReady: the model failed to load; the message gives the reason.
            UnknownModel: no such model; the message lists the ones there are.
        """
        if name in self._models:
            return self._models[name]
        if name in self._not_ready:
            raise ModelNotReady(f"model {name!r} is not ready: {self._not_ready[name]}")
        known = ", ".join(sorted([*self._models, *self._not_ready]))
        raise UnknownModel(f"no model named {quoted(name)}; available: {known}")


def _read_config(folder: Path, root: Path) -> ModelConfig:
    # A model folder that is a link must stay inside the repository, as its files stay inside it.
    if root not in folder.resolve().parents:
        raise ModelConfigError("the folder is a link to outside the repository")
    return read_model_config(folder)


def _short(error: BaseException, root: Path) -> str:
    """`error` as one short line, with paths relative to the repository."""
    text = " ".join(str(error).split()).replace(f"{root}/", "") or type(error).__name__
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
