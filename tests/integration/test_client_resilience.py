"""The client's retries, round-robin over several servers, and bearer token, on real channels.

The servers here are real gRPC servers on loopback ports whose ListModels fails on purpose as
scripted: the only way to make RESOURCE_EXHAUSTED or UNAVAILABLE happen on cue. A scripted
RESOURCE_EXHAUSTED is "busy" (marked for retry, as saliency-server marks a full server) unless
the script says it is a cap.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from saliency_client import (
    AsyncSaliencyClient,
    InvalidArgument,
    ResourceExhausted,
    SaliencyClient,
    Unavailable,
)
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from tests.integration.server_process import unused_port

RETRY_AFTER = "saliency-retry-after-ms"

pytestmark = pytest.mark.integration


class Scripted(pb_grpc.SaliencyServicer):
    """Answers ListModels with the scripted failures first, then with one model."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: list[grpc.StatusCode] = []
        self.busy = True
        self.calls = 0
        self.metadata: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def ListModels(self, request: pb.ListModelsRequest, context: grpc.ServicerContext) -> object:
        with self._lock:
            self.calls += 1
            self.metadata.append(dict(context.invocation_metadata()))  # type: ignore[arg-type]
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            if failure == grpc.StatusCode.RESOURCE_EXHAUSTED and self.busy:
                context.set_trailing_metadata(((RETRY_AFTER, "10"),))
            context.abort(failure, f"scripted {failure.name}")
        return pb.ListModelsResponse(models=[pb.ModelInfo(name=self.name)])


@pytest.fixture
def servers() -> Iterator[list[tuple[Scripted, int]]]:
    started = []
    for name in ("a", "b"):
        servicer = Scripted(name)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_SaliencyServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        started.append((servicer, port, server))
    yield [(servicer, port) for servicer, port, _ in started]
    for _, _, server in started:
        server.stop(grace=None)


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_overload_and_unavailability_are_retried_with_backoff(servers, code) -> None:  # type: ignore[no-untyped-def]
    (scripted, port), _ = servers
    scripted.failures = [code, code]
    with SaliencyClient(f"127.0.0.1:{port}", timeout=30) as client:
        assert [m.name for m in client.list_models()] == ["a"]
    assert scripted.calls == 3


def test_retries_stop_after_four_attempts(servers) -> None:  # type: ignore[no-untyped-def]
    (scripted, port), _ = servers
    scripted.failures = [grpc.StatusCode.RESOURCE_EXHAUSTED] * 10
    client = SaliencyClient(f"127.0.0.1:{port}", timeout=30)
    with client, pytest.raises(ResourceExhausted, match="scripted"):
        client.list_models()
    assert scripted.calls == 4


def test_resource_exhausted_not_marked_busy_is_not_retried(servers) -> None:  # type: ignore[no-untyped-def]
    # A request over a cost cap, or a message over a size limit, would fail again.
    (scripted, port), _ = servers
    scripted.busy = False
    scripted.failures = [grpc.StatusCode.RESOURCE_EXHAUSTED] * 3
    client = SaliencyClient(f"127.0.0.1:{port}", timeout=30)
    with client, pytest.raises(ResourceExhausted, match="scripted"):
        client.list_models()
    assert scripted.calls == 1


def test_errors_that_retrying_cannot_fix_are_not_retried(servers) -> None:  # type: ignore[no-untyped-def]
    (scripted, port), _ = servers
    scripted.failures = [grpc.StatusCode.INVALID_ARGUMENT]
    with SaliencyClient(f"127.0.0.1:{port}", timeout=30) as client, pytest.raises(InvalidArgument):
        client.list_models()
    assert scripted.calls == 1


def test_retries_can_be_turned_off(servers) -> None:  # type: ignore[no-untyped-def]
    (scripted, port), _ = servers
    scripted.failures = [grpc.StatusCode.UNAVAILABLE]
    options = [("grpc.enable_retries", 0)]
    client = SaliencyClient(f"127.0.0.1:{port}", timeout=30, options=options)
    with client, pytest.raises(Unavailable):
        client.list_models()
    assert scripted.calls == 1


def test_one_target_with_several_addresses_balances_round_robin(servers) -> None:  # type: ignore[no-untyped-def]
    (a, port_a), (b, port_b) = servers
    with SaliencyClient(f"ipv4:127.0.0.1:{port_a},127.0.0.1:{port_b}", timeout=30) as client:
        names = [client.list_models()[0].name for _ in range(20)]
    assert set(names) == {"a", "b"}
    assert a.calls + b.calls == 20


def test_a_dead_address_is_skipped(servers) -> None:  # type: ignore[no-untyped-def]
    (a, port_a), _ = servers
    target = f"ipv4:127.0.0.1:{unused_port()},127.0.0.1:{port_a}"
    with SaliencyClient(target, timeout=30) as client:
        assert all(client.list_models()[0].name == "a" for _ in range(10))
    assert a.calls == 10


def test_the_token_is_sent_as_a_bearer_header(servers) -> None:  # type: ignore[no-untyped-def]
    (scripted, port), _ = servers
    with SaliencyClient(f"127.0.0.1:{port}", timeout=30, token="s3cret") as client:
        client.list_models()
    assert scripted.metadata[0]["authorization"] == "Bearer s3cret"
    with pytest.raises(InvalidArgument, match="white space"):
        SaliencyClient(f"127.0.0.1:{port}", token="two words")


def test_the_asyncio_client_retries_and_sends_the_token_too(servers) -> None:  # type: ignore[no-untyped-def]
    (scripted, port), _ = servers
    scripted.failures = [grpc.StatusCode.UNAVAILABLE]

    async def call() -> list[str]:
        async with AsyncSaliencyClient(f"127.0.0.1:{port}", timeout=30, token="t0k") as client:
            return [m.name for m in await client.list_models()]

    assert asyncio.run(call()) == ["a"]
    assert scripted.calls == 2
    assert all(m["authorization"] == "Bearer t0k" for m in scripted.metadata)
