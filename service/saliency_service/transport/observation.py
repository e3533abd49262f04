"""What the servicer records of every RPC: its count by status, its images by outcome, its time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from saliency_service.errors import InvalidRequest, SaliencyError
from saliency_service.metrics import Metrics
from saliency_service.transport.status import code_of


class Observation:
    """A `with` block around one RPC's handler; labels take only names the server knows."""

    def __init__(self, metrics: Metrics, rpc: str, model: str, method: str) -> None:
        self.metrics = metrics
        self.labels = (rpc, model, method)
        self.started = 0.0

    def __enter__(self) -> Observation:
        self.started = time.perf_counter()
        return self

    def __call__(self, results: Sequence[Any]) -> None:
        """Count the images of a response by outcome: ok, invalid, or failed."""
        for result in results:
            outcome = "ok"
            if isinstance(result, SaliencyError):
                outcome = "invalid" if isinstance(result, InvalidRequest) else "failed"
            self.metrics.items.labels(*self.labels, outcome).inc()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        code = "OK"
        if isinstance(error, asyncio.CancelledError | GeneratorExit):
            code = "CANCELLED"
        elif error is not None:
            code = code_of(error)[0].name
        self.metrics.requests.labels(*self.labels, code).inc()
        self.metrics.request_latency.labels(*self.labels).observe(
            time.perf_counter() - self.started
        )
