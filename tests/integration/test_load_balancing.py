"""Scale-out: several server processes behind the client's round-robin, as replicas behind a
Kubernetes headless Service are (one channel, every address). Calls spread over all of them,
and killing one while it computes an accepted call costs nothing beyond a retry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from saliency_client import SaliencyClient

from tests.integration.scraping import free_port, scrape, value
from tests.integration.server_process import ServerProcess, wait_until, write_tiny_repository

pytestmark = pytest.mark.integration

REPLICAS = 3
CALLERS, CALLS_PER_CALLER = 3, 6
IMAGES = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
          for i in range(4)]


class Replica:
    def __init__(self, repository: Path) -> None:
        self.metrics_port = free_port()
        self.process = ServerProcess(repository, "--metrics-port", str(self.metrics_port),
                                     "--metrics-host", "127.0.0.1")

    def explained(self) -> float:
        """Explain calls this replica answered OK (its own /metrics)."""
        samples = scrape(self.metrics_port)
        return sum(
            value(samples, "saliency_requests_total", rpc="Explain", model="shapes",
                  method=method, code="OK")
            for method in ("grad_cam", "integrated_gradients")
        )

    def inflight(self) -> float:
        return value(scrape(self.metrics_port), "saliency_inflight_items")


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    repository = write_tiny_repository(tmp_path_factory.mktemp("repository"))
    with ThreadPoolExecutor(REPLICAS) as starting:  # they load their models side by side
        started = list(starting.map(lambda _: Replica(repository), range(REPLICAS)))
    yield started
    for replica in started:
        replica.process.__exit__(None, None, None)


def balanced_target(replicas: list[Replica]) -> str:
    """One gRPC target naming every replica, as DNS names a headless Service's pods."""
    return "ipv4:" + ",".join(r.process.target for r in replicas)


def test_calls_spread_over_every_replica(replicas: list[Replica]) -> None:
    before = [r.explained() for r in replicas]
    calls = 30
    with SaliencyClient(balanced_target(replicas), timeout=60) as client:
        for _ in range(calls):
            (result,) = client.explain(IMAGES[0], model="shapes", method="grad_cam")
            assert result.error is None
    served = [r.explained() - b for r, b in zip(replicas, before, strict=True)]
    assert sum(served) == calls
    # Round-robin over ready connections: every replica takes its share (all of them ready
    # after the first call or two).
    assert min(served) >= calls // REPLICAS - 2, served


def test_a_replica_killed_mid_call_costs_no_accepted_call(replicas: list[Replica]) -> None:
    victim, survivors = replicas[1], [replicas[0], replicas[2]]
    before = [r.explained() for r in survivors]
    outcomes: list[object] = []

    def caller(client: SaliencyClient) -> None:
        for _ in range(CALLS_PER_CALLER):
            try:
                results = client.explain(IMAGES, model="shapes", method="integrated_gradients",
                                         steps=128)
                outcomes.append(all(r.error is None for r in results))
            except Exception as error:  # noqa: BLE001 - every failure is the test's finding
                outcomes.append(error)

    with SaliencyClient(balanced_target(replicas), timeout=120) as client:
        threads = [threading.Thread(target=caller, args=(client,)) for _ in range(CALLERS)]
        for thread in threads:
            thread.start()
        # The gate: the victim is computing a call it accepted.
        assert wait_until(lambda: victim.inflight() > 0, timeout=120, step=0.02)
        victim.process.process.kill()
        victim.process.wait(30)
        for thread in threads:
            thread.join(300)
    assert len(outcomes) == CALLERS * CALLS_PER_CALLER
    assert all(outcome is True for outcome in outcomes), outcomes
    served = [r.explained() - b for r, b in zip(survivors, before, strict=True)]
    assert all(count > 0 for count in served), served
