"""Models while serving: which load a request uses, and changes of the repository without a restart.

- **Using.** A request resolves its model (name, version) once, when it is planned, and holds
  that load (`using`) until it is answered: its batches run on that load's instances (their
  batching key is the load's key), whatever replaces it meanwhile.
- **Reloading** (`reload`, from the repository poll or the Admin RPC): the repository is scanned;
  each new or changed version is loaded on a loading thread and warmed up on the devices beside
  the serving ones (`Engine.add_model`), then installed: from that event-loop step on, new
  requests get it, so responses switch version once and atomically. A version that fails to load
  leaves the one serving in place and is reported with its reason. A load that is replaced, or
  a version no longer selected, is retired: it leaves the engine once its last request is
  answered. Health is not touched: the server stays SERVING while models change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from saliency_service.engine.engine import Engine
from saliency_service.metrics import Metrics
from saliency_service.models.loading import LoadedModel
from saliency_service.models.repository import ModelRepository, load_version, short
from saliency_service.models.versions import VersionFolder, scan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """What a reload did to one version: "loaded", "replaced", "removed" or "failed"."""

    model: str
    version: str
    action: str
    reason: str = ""


class ModelLifecycle:
    """The repository's models while the server runs (module docstring)."""

    def __init__(
        self,
        repository: ModelRepository,
        engine: Engine,
        metrics: Metrics,
        device: torch.device,
        *,
        trust_torchscript: bool = False,
    ) -> None:
        self.repository = repository
        self.engine = engine
        self.metrics = metrics
        self.device = device
        self.trust_torchscript = trust_torchscript
        self._users: Counter[str] = Counter()
        self._idle: dict[str, asyncio.Event] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._reloading = asyncio.Lock()

    @contextlib.contextmanager
    def using(self, name: str, version: str = "") -> Iterator[LoadedModel]:
        """The model `name` (its `version`, else its default), held for the `with` block.

        Raises:
            UnknownModel, ModelNotReady: as `ModelRepository.get`.
        """
        model = self.repository.get(name, version)
        self._users[model.key] += 1
        try:
            yield model
        finally:
            self._users[model.key] -= 1
            if self._users[model.key] <= 0:
                del self._users[model.key]
                idle = self._idle.pop(model.key, None)
                if idle is not None:
                    idle.set()

    async def reload(self, names: Sequence[str] = ()) -> list[Change]:
        """Scan the repository (only the model folders `names`, when given) and apply what
        changed; one reload at a time."""
        root = self.repository.root
        if root is None:
            return []
        async with self._reloading:
            found = await asyncio.to_thread(scan, root)
            only = set(names) or None
            if only is not None:
                found = {folder: model for folder, model in found.items() if folder in only}
            changes = []
            for version in self.repository.changes(found):
                changes.append(await self._load(version, root))
            for model in self.repository.settle(found, only):
                changes.append(Change(model.config.name, model.config.version, "removed"))
                self._retire(model)
            for change in changes:
                self.metrics.model_changes.labels(change.model, change.action).inc()
            return changes

    async def _load(self, version: VersionFolder, root: Path) -> Change:
        try:
            model = await asyncio.to_thread(
                load_version, version, self.device, root, self.trust_torchscript
            )
            await self.engine.add_model(model)
        except Exception as error:  # noqa: BLE001 - reported, and the serving load stays
            self.repository.fail(version, error)
            return Change(version.model, version.version, "failed", short(error, root))
        try:
            old = self.repository.install(version, model)
        except Exception as error:  # noqa: BLE001 - e.g. its name is another folder's
            self._retire(model)
            self.repository.fail(version, error)
            return Change(version.model, version.version, "failed", short(error, root))
        self.metrics.onnx_gap.labels(model.config.name).set(model.onnx_max_abs_gap)
        log.info("model %s now serves version %r (%s)", model.config.name, version.version,
                 model.key)
        if old is not None:
            self._retire(old)
        return Change(model.config.name, version.version, "replaced" if old else "loaded")

    def _retire(self, model: LoadedModel) -> None:
        """Remove `model` from the engine once no request holds it."""
        task = asyncio.get_running_loop().create_task(self._remove_when_idle(model.key))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _remove_when_idle(self, key: str) -> None:
        if self._users[key] > 0:
            await self._idle.setdefault(key, asyncio.Event()).wait()
        self.engine.remove_model(key)
        log.info("retired %s", key)

    async def watch(self, interval_s: float) -> None:
        """Reload every `interval_s` seconds until cancelled; a failed scan is logged."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reload()
            except Exception:  # noqa: BLE001 - the next poll tries again
                log.exception("repository poll failed")
