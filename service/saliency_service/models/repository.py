"""The model repository: which version of which model serves, and which failed to load and why.

Readiness. Every selected version (versions.py) of every model folder loads on its own: one
that fails (a config error, a corrupt or refused file, weights that do not fit) is kept as *not
ready* with a short reason, and the others serve; a request naming it gets `ModelNotReady`
(UNAVAILABLE). When no model at all loads at start-up, `load` raises, and `saliency-server`
exits with status 2 and every model's reason: a server that could only answer errors is a
failed deployment, better seen at once than running.

Changes. This class only keeps the books; operations/lifecycle.py loads what `changes` lists,
then `install`s or `fail`s each, and `settle`s. A version whose new files fail to load keeps
its earlier load serving (its reason is reported beside it); a version the policy no longer
selects leaves only once the model's default version is ready, so a broken new version never
takes the old one down. Every method runs on one thread (the event loop, once serving).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from saliency_service.errors import ModelNotReady, UnknownModel, quoted
from saliency_service.models.config import ModelConfigError, read_model_config
from saliency_service.models.loading import LoadedModel, load_model
from saliency_service.models.versions import ModelFolder, VersionFolder, scan

log = logging.getLogger(__name__)
MAX_REASON_CHARS = 300
_serial = itertools.count(1)


@dataclass
class Version:
    """One version of a model folder as last loaded: the model serving it (None if none has
    loaded) and why its latest files failed to load ("" when they loaded)."""

    fingerprint: str
    model: LoadedModel | None = None
    reason: str = ""


@dataclass(frozen=True)
class Entry:
    """One row of ListModels: a version of a model, serving or not."""

    name: str
    version: str
    model: LoadedModel | None
    reason: str
    is_default: bool


class ModelRepository:
    """Every model of a repository folder: the versions serving and those that failed."""

    def __init__(
        self, models: dict[str, LoadedModel] | None = None, not_ready: dict[str, str] | None = None,
        root: Path | None = None,
    ) -> None:
        self.root = root
        self._versions: dict[str, dict[str, Version]] = {}
        self._defaults: dict[str, str] = {}
        self._errors: dict[str, str] = dict(not_ready or {})
        self._names: dict[str, str] = {}  # served name → folder
        for name, model in (models or {}).items():
            self._versions[name] = {model.config.version: Version("", model)}
            self._defaults[name] = model.config.version
            self._names[name] = name

    @classmethod
    def load(
        cls, folder: Path, device: torch.device, *, trust_torchscript: bool = False
    ) -> ModelRepository:
        """Load every selected version of every model folder of `folder`.

        Raises:
            ModelConfigError: no model loads (or the folder holds none); the message has every
                model's reason.
        """
        repository = cls(root=folder.resolve())
        found = scan(folder)
        for version in repository.changes(found):
            try:
                model = load_version(version, device, repository.root, trust_torchscript)
                repository.install(version, model)
            except Exception as error:  # noqa: BLE001 - one model's failure must not stop the rest
                repository.fail(version, error)
        repository.settle(found)
        if not repository.served():
            failed = repository.not_ready().items()
            reasons = "; ".join(f"{name}: {reason}" for name, reason in failed)
            raise ModelConfigError(
                f"no model is ready in {folder}"
                + (f" ({reasons})" if reasons else ": no sub-folder holds a model")
            )
        return repository

    # ------------------------------------------------------------------ changes

    def changes(self, found: dict[str, ModelFolder]) -> list[VersionFolder]:
        """The versions to load: new ones and those whose files changed since they loaded (or
        since they failed: the same broken files are not loaded again)."""
        wanted = []
        for folder, model in found.items():
            known = self._versions.get(folder, {})
            for version in model.versions.values():
                if version.version not in known or known[version.version].fingerprint != (
                    version.fingerprint
                ):
                    wanted.append(version)
        return wanted

    def install(self, version: VersionFolder, model: LoadedModel) -> LoadedModel | None:
        """`model` now serves `version`; returns the load it replaced, if any."""
        name = model.config.name
        owner = self._names.setdefault(name, version.model)
        if owner != version.model:
            raise ModelConfigError(f"another model folder, {owner!r}, is called {name!r}")
        slot = self._versions.setdefault(version.model, {}).get(version.version)
        old = slot.model if slot is not None else None
        self._versions[version.model][version.version] = Version(version.fingerprint, model)
        self._errors.pop(version.model, None)
        return old

    def fail(self, version: VersionFolder, error: BaseException) -> None:
        """`version`'s files did not load: its earlier load, if any, keeps serving."""
        reason = short(error, self.root)
        slot = self._versions.setdefault(version.model, {}).get(version.version)
        model = slot.model if slot is not None else None
        self._versions[version.model][version.version] = Version(version.fingerprint, model, reason)
        label = version.model + (f"@{version.version}" if version.version else "")
        log.error("model %s is not ready: %s", label, reason)
        log.debug("model %s failed to load", label, exc_info=error)

    def settle(
        self, found: dict[str, ModelFolder], only: set[str] | None = None
    ) -> list[LoadedModel]:
        """Drop what the repository no longer selects, once it may; returns the models dropped
        (the caller retires them from the engine once their requests have finished).

        `only`: `found` covers these model folders alone; the others stay as they are.
        """
        dropped: list[LoadedModel] = []
        for folder in [f for f in self._versions if only is None or f in only]:
            model = found.get(folder)
            versions = self._versions[folder]
            if model is None:
                dropped += [v.model for v in versions.values() if v.model is not None]
                del self._versions[folder]
                continue
            default = model.default if model.versions and "" not in model.versions else ""
            ready = versions.get(default) is not None and versions[default].model is not None
            for number in list(versions):
                if number not in model.versions and (ready or versions[number].model is None):
                    gone = versions.pop(number).model
                    dropped += [gone] if gone is not None else []
            self._defaults[folder] = default if ready else self._newest(folder)
        for folder, model in found.items():
            if model.error:
                self._errors[folder] = model.error
            else:
                self._errors.pop(folder, None)
        self._errors = {
            k: v for k, v in self._errors.items() if k in found or not (only is None or k in only)
        }
        self._names = {m.config.name: folder for folder, m in self._served_models()}
        return dropped

    def _newest(self, folder: str) -> str:
        ready = [n for n, v in self._versions[folder].items() if v.model is not None]
        return max(ready, key=lambda n: int(n) if n.isdigit() else 0, default="")

    # ------------------------------------------------------------------ lookups

    def served(self) -> list[LoadedModel]:
        """Every loaded version that serves."""
        return [model for _, model in self._served_models()]

    def _served_models(self) -> Iterator[tuple[str, LoadedModel]]:
        for folder, versions in self._versions.items():
            for slot in versions.values():
                if slot.model is not None:
                    yield folder, slot.model

    def names(self) -> list[str]:
        """The names of the models with a version serving, sorted."""
        return sorted({model.config.name for model in self.served()})

    def has(self, name: str) -> bool:
        """Whether a model, ready or not, is called `name` (metric labels take only names the
        server knows)."""
        return name in self._names or name in self._errors or name in self._versions

    def not_ready(self) -> dict[str, str]:
        """Models and versions that failed to load ("name" or "name@version"), with reasons."""
        failed = dict(self._errors)
        for folder, versions in self._versions.items():
            for number, slot in versions.items():
                if slot.reason:
                    failed[folder + (f"@{number}" if number else "")] = slot.reason
        return dict(sorted(failed.items()))

    def entries(self) -> list[Entry]:
        """Every version of every model, serving or not, for ListModels."""
        rows = [Entry(folder, "", None, reason, True) for folder, reason in self._errors.items()]
        for folder, versions in sorted(self._versions.items()):
            for number, slot in sorted(versions.items(), key=lambda kv: (len(kv[0]), kv[0])):
                name = slot.model.config.name if slot.model is not None else folder
                default = self._defaults.get(folder) == number
                rows.append(Entry(name, number, slot.model, slot.reason, default))
        return rows

    def get(self, name: str, version: str = "") -> LoadedModel:
        """The model called `name`: its `version`, or its default version when "".

        Raises:
            ModelNotReady: the model (or that version) failed to load; the message says why.
            UnknownModel: no such model or version; the message lists the ones there are.
        """
        folder = self._names.get(name, name)
        versions = self._versions.get(folder)
        if versions is None:
            if folder in self._errors:
                raise ModelNotReady(f"model {name!r} is not ready: {self._errors[folder]}")
            known = ", ".join(sorted({*self._names, *self._errors}))
            raise UnknownModel(f"no model named {quoted(name)}; available: {known}")
        number = version or self._defaults.get(folder, "")
        slot = versions.get(number)
        if slot is None:
            listed = ", ".join(sorted(v for v in versions if v)) or "none (unversioned)"
            raise UnknownModel(f"model {name!r} has no version {quoted(number)}; served: {listed}")
        if slot.model is None:
            label = name + (f" version {number}" if number else "")
            raise ModelNotReady(f"model {label!r} is not ready: {slot.reason}")
        return slot.model


def load_version(
    version: VersionFolder, device: torch.device, root: Path | None, trust_torchscript: bool
) -> LoadedModel:
    """Read and load one version folder (on a loading thread), with its engine key.

    Raises:
        ModelConfigError (or anything loading raises): it does not load.
    """
    # A model folder that is a link must stay inside the repository, as its files stay inside it.
    if root is not None and root not in version.folder.resolve().parents:
        raise ModelConfigError("the folder is a link to outside the repository")
    config = read_model_config(version.folder, version.version)
    model = load_model(config, device, trust_torchscript=trust_torchscript)
    label = config.name + (f"@{version.version}" if version.version else "")
    return replace(
        model, key=f"{label}#{next(_serial)}", revision=version.fingerprint, loaded_at=time.time()
    )


def short(error: BaseException, root: Path | None) -> str:
    """`error` as one short line, with paths relative to the repository."""
    text = " ".join(str(error).split())
    if root is not None:
        text = text.replace(f"{root}/", "")
    text = text or type(error).__name__
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
