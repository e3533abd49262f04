"""SIGTERM under load: accepted work completes, new calls get UNAVAILABLE, the process exits 0.

The server is a real `python -m saliency_service` child process, as Kubernetes runs it. Which
calls the server had accepted when the signal came is known from order, not from timing: a
quick call sent on the same connection after a slow one, and answered, proves the slow one had
reached the server (HTTP/2 streams of one connection are taken in order).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from tests.integration.messages import number, pixels
from tests.integration.server_process import (
    ServerProcess,
    unused_port,
    wait_until,
    write_tiny_repository,
)

pytestmark = pytest.mark.integration

CLIENTS = 4
# gRPC's own transparent retries would hide what the server answered.
NO_RETRIES = [("grpc.enable_retries", 0)]
IMAGE = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def slow_request(seed: int) -> pb.ExplainRequest:
    """Integrated Gradients with many steps on several images: seconds of CPU work."""
    items = [pb.ExplainItem(image=pixels(np.roll(IMAGE, seed + i, axis=0))) for i in range(4)]
    return pb.ExplainRequest(
        model="shapes",
        method=pb.EXPLAIN_METHOD_INTEGRATED_GRADIENTS,
        items=items,
        # A different step count per client, so no two slow calls share a batch.
        params={"steps": number(256 + seed)},
    )


QUICK = pb.ExplainRequest(
    model="shapes", method=pb.EXPLAIN_METHOD_GRAD_CAM, items=[pb.ExplainItem(image=pixels(IMAGE))]
)


class Load:
    """Client threads that each send quick calls on their own connection until told to stop."""

    def __init__(self, target: str) -> None:
        self.channels = [grpc.insecure_channel(target, options=NO_RETRIES) for _ in range(CLIENTS)]
        self.codes: list[grpc.StatusCode] = []
        self.answered = threading.Semaphore(0)
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(channel,), daemon=True)
            for channel in self.channels
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, channel: grpc.Channel) -> None:
        stub = pb_grpc.SaliencyStub(channel)
        while not self.stop.is_set():
            self.codes.append(code_of(stub.Explain, QUICK))
            self.answered.release()

    def finish(self) -> None:
        """Stop sending and wait for every client's last call to be answered."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)


def code_of(call: grpc.UnaryUnaryMultiCallable, request: object) -> grpc.StatusCode:
    try:
        call(request, timeout=120)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return, attr-defined]
    return grpc.StatusCode.OK


def probe_status(port: int) -> int:
    """What the health-only probe port answers, as kubelet's readiness probe asks it."""
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=NO_RETRIES) as channel:
        request = health_pb2.HealthCheckRequest(service="saliency.v1.Saliency")
        status: int = health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status
        return status


def refuses_new_calls(target: str) -> bool:
    """Whether a health check on a new connection is refused (the server stopped accepting)."""
    with grpc.insecure_channel(target, options=NO_RETRIES) as channel:
        try:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined, no-any-return]
    return False


@pytest.fixture
def probe_port() -> int:
    return unused_port()


@pytest.fixture
def server(tmp_path: Path, probe_port: int) -> Iterator[ServerProcess]:
    repository = write_tiny_repository(tmp_path / "repository")
    flags = ("--grace-period-s", "120", "--probe-port", str(probe_port))
    with ServerProcess(repository, *flags) as process:
        yield process


def test_sigterm_under_load_finishes_accepted_calls_refuses_new_ones_and_exits_zero(
    server: ServerProcess, probe_port: int
) -> None:
    load = Load(server.target)
    slow_channels: list[grpc.Channel] = []
    try:
        for _ in range(CLIENTS):  # every load client has been answered once: the server is warm
            assert load.answered.acquire(timeout=120)
        slow_channels.extend(
            grpc.insecure_channel(server.target, options=NO_RETRIES) for _ in range(CLIENTS)
        )
        slow_calls = []
        for seed, channel in enumerate(slow_channels):
            stub = pb_grpc.SaliencyStub(channel)
            slow_calls.append(stub.Explain.future(slow_request(seed), timeout=300))
            # Answered after the slow call was sent on the same connection: the server has it.
            stub.ListModels(pb.ListModelsRequest(), timeout=60)

        assert probe_status(probe_port) == health_pb2.HealthCheckResponse.SERVING
        server.terminate()
        unfinished_at_sigterm = sum(not call.done() for call in slow_calls)
        # Readiness fails at once, while accepted work still runs.
        assert wait_until(
            lambda: probe_status(probe_port) == health_pb2.HealthCheckResponse.NOT_SERVING, 30
        )
        assert wait_until(lambda: refuses_new_calls(server.target), timeout=60)
        load.finish()

        # New calls, on fresh connections and on connections opened before the signal.
        for channel in [*slow_channels, *load.channels]:
            late = grpc.insecure_channel(server.target, options=NO_RETRIES)
            for stub in (pb_grpc.SaliencyStub(late), pb_grpc.SaliencyStub(channel)):
                assert code_of(stub.Explain, QUICK) == grpc.StatusCode.UNAVAILABLE
            late.close()

        # Every slow call was accepted before the signal, and every one completes.
        for seed, call in enumerate(slow_calls):
            response = call.result(timeout=300)
            assert len(response.results) == 4, seed
            assert all(r.error.code == 0 and len(r.explanations) == 1 for r in response.results)
        assert server.wait(timeout=120) == 0
    finally:
        load.finish()
        for channel in [*load.channels, *slow_channels]:
            channel.close()

    # The test drained real work, not calls that had already finished.
    assert unfinished_at_sigterm > 0
    # Under load, calls either completed or were refused as UNAVAILABLE; none was cut off.
    assert set(load.codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
    assert load.codes.count(grpc.StatusCode.OK) >= CLIENTS
    assert any("draining" in line for line in server.log)
