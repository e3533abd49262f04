"""What the engine moves around: batching keys, jobs, and one work item per image."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from saliency_service.models.loading import LoadedModel

# How a job's passes are kept within the device's budgets (memory, and time per slice):
# "inside": the job takes `rows_per_pass` and chunks its own passes (the explainers' chunk_size);
# "passes": the engine splits the batch into passes of at most `rows_per_pass` rows;
# "none": forward-only work (ONNX Runtime), too light to need splitting.
Chunking = Literal["inside", "passes", "none"]
ParamsKey = tuple[tuple[str, object], ...]
_sequence = itertools.count()


@dataclass(frozen=True)
class BatchKey:
    """Items with equal keys may share a batch: same model, same computation.

    `model` is the model's key (`LoadedModel.key`: one load of one version), so work planned on
    a version runs on that version even when a newer one serves new requests. `params` holds
    every resolved parameter, so two requests that differ in anything but their images and
    per-image fields (targets, labels, ε) never share a batch.
    """

    model: str
    kind: str
    method: str
    params: ParamsKey = ()


def params_key(params: Mapping[str, object]) -> ParamsKey:
    """`params` as a hashable, order-independent key; arrays by shape, dtype and a content hash."""
    return tuple(sorted((name, _hashable(value)) for name, value in params.items()))


def _hashable(value: object) -> object:
    if isinstance(value, np.ndarray):
        digest = hashlib.blake2b(np.ascontiguousarray(value).tobytes(), digest_size=16)
        return ("ndarray", value.shape, value.dtype.str, digest.hexdigest())
    return value


@dataclass(frozen=True)
class Job:
    """One kind of computation: the key its items batch under, and the function computing a batch.

    `run(model, payloads, rows_per_pass)` returns one output per payload, in order. `rows(payload)`
    is how many rows a payload sends through the model (an explanation's number of targets), for
    splitting a batch into passes with `chunking="passes"`. `foldable` jobs hook no layer, so
    they may run on the replica whose batch norms are folded into its convolutions; `autocast`
    jobs may run under mixed precision (engine/precision.py): `precision` is the request's
    `autocast` choice, "" for the model's or the server's setting. `deterministic` jobs
    compute each item alone, in passes of a fixed size, so that an item's result does not
    depend on what else shares its batch (batched kernels round differently with its shape).
    """

    key: BatchKey
    run: Callable[[LoadedModel, list[Any], int | None], list[Any]]
    chunking: Chunking = "passes"
    rows: Callable[[Any], int] = field(default=lambda _payload: 1)
    foldable: bool = False
    autocast: bool = False
    precision: str = ""
    deterministic: bool = False


@dataclass(eq=False)
class WorkItem:
    """One image of one request, waiting for (or in) a batch.

    The future is resolved on the event loop with the image's output or its own SaliencyError.
    Worker threads only read it (`done()` is a plain attribute read), to skip cancelled work.
    `tenant` is who sent it (fair shares) and `cost` its estimated device-seconds.
    """

    payload: Any
    future: asyncio.Future[Any]
    deadline: float | None
    priority: int
    tenant: str = ""
    cost: float = 0.0
    enqueued: float = field(default_factory=time.monotonic)
    # Its batch's pass count when its caller cancelled it while the batch ran.
    cancelled_at_pass: int | None = None
    sequence: int = field(default_factory=lambda: next(_sequence))

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def cancelled(self) -> bool:
        """The caller stopped waiting (its RPC was cancelled), or the item was answered already."""
        return self.future.done()

    def dead(self, now: float) -> bool:
        return self.cancelled() or self.expired(now)
