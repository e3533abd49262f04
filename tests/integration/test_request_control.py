"""No request can monopolise, outlive or subvert the server: preemption between passes, fair
shares, cancellation of every RPC kind, cost caps, bounded echoes and labels, health Watch.

Each test runs a real `python -m saliency_service` process on a tiny random-weight model. What
the tests assert is order and counts, read from the server's own /metrics (passes, their waits,
queue depth), never times.
"""

from __future__ import annotations

import contextlib
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from saliency_client import NotFound, SaliencyClient
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from tests.integration.messages import number, pixels, png
from tests.integration.scraping import Samples, free_port, scrape, value
from tests.integration.server_process import ServerProcess, wait_until, write_tiny_repository

pytestmark = pytest.mark.integration

NO_RETRIES = [("grpc.enable_retries", 0)]
IMAGES = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
IG = pb.EXPLAIN_METHOD_INTEGRATED_GRADIENTS


def long_request(steps: int = 4096, images: int = 8) -> pb.ExplainRequest:
    """Integrated Gradients with thousands of path points: dozens of slices of work."""
    return pb.ExplainRequest(
        model="shapes",
        method=IG,
        items=[pb.ExplainItem(image=pixels(IMAGES[i])) for i in range(images)],
        params={"steps": number(steps)},
    )


CHEAP = pb.ExplainRequest(
    model="shapes",
    method=pb.EXPLAIN_METHOD_VANILLA_GRADIENT,
    items=[pb.ExplainItem(image=pixels(IMAGES[0]))],
)


class Server:
    """A server process with its metrics port, and helpers to read them."""

    def __init__(self, process: ServerProcess, metrics_port: int) -> None:
        self.process = process
        self.metrics_port = metrics_port
        self.channel = grpc.insecure_channel(process.target, options=NO_RETRIES)
        self.stub = pb_grpc.SaliencyStub(self.channel)

    def samples(self) -> Samples:
        return scrape(self.metrics_port)

    def passes(self, method: str) -> float:
        return value(self.samples(), "saliency_passes_total", model="shapes", method=method)

    def idle(self) -> bool:
        samples = self.samples()
        return (
            value(samples, "saliency_inflight_items") == 0
            and value(samples, "saliency_queue_depth", model="shapes") == 0
        )


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_repository(tmp_path_factory.mktemp("control") / "repository")


# Caps far above any request here: prices follow the passes' measured speed, so they grow on a
# loaded machine, and only the cap test is about refusals by cost.
NO_COST_CAPS = ("--max-request-seconds", "86400", "--max-queued-seconds", "864000")


@contextlib.contextmanager
def start(repository: Path, *flags: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    with ServerProcess(repository, "--metrics-port", str(port), *flags, env=env) as process:
        server = Server(process, port)
        try:
            yield server
        finally:
            server.channel.close()


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[Server]:
    """Shared by the tests that need no other settings; each leaves it idle.

    Slices of about 300 ms and no batching delay: a dispatched batch waits only at the gate.
    No cost caps: these tests are about cancellation, not refusals.
    """
    flags = ("--slice-ms", "300", "--max-queue-delay-ms", "0", *NO_COST_CAPS)
    with start(repository, *flags) as running:
        yield running


def test_a_cheap_call_overtakes_a_long_one_after_at_most_one_slice(server: Server) -> None:
    started = server.passes("integrated_gradients")
    long = server.stub.Explain.future(long_request(), timeout=600)
    assert wait_until(lambda: server.passes("integrated_gradients") > started, timeout=120)
    response = server.stub.Explain(CHEAP, timeout=120)
    assert response.results[0].error.code == 0
    assert not long.done()  # the cheap call, sent after the long one, finished first
    samples = server.samples()
    labels = {"model": "shapes", "method": "vanilla_gradient"}
    waited = value(samples, "saliency_gate_wait_passes_count", **labels)
    within_one = value(samples, "saliency_gate_wait_passes_bucket", **labels, le="1.0")
    assert waited >= 1 and within_one == waited
    assert all(r.error.code == 0 for r in long.result(timeout=600).results)


class Flood:
    """Threads sending long requests on one connection (one tenant) until stopped."""

    def __init__(self, server: Server, threads: int = 6) -> None:
        self.server = server
        self.codes: list[grpc.StatusCode] = []
        self.outstanding = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                self.outstanding += 1
            try:
                self.server.stub.Explain(long_request(steps=256, images=4), timeout=600)
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()  # type: ignore[attr-defined]
            with self.lock:
                self.outstanding -= 1
                self.codes.append(code)
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                self.stop.wait(0.05)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=600)


def test_a_flooding_client_cannot_starve_another(repository: Path) -> None:
    flags = ("--max-queue-size", "16", "--tenant-share", "0.5", "--max-queue-delay-ms", "0",
             *NO_COST_CAPS)
    with start(repository, *flags) as server:
        flood = Flood(server)
        try:
            refused = grpc.StatusCode.RESOURCE_EXHAUSTED
            assert wait_until(lambda: refused in flood.codes, 120)  # noqa: B023
            # Its own connection (channels of one process share them by default): another
            # tenant, as a client on another machine would be.
            own = [*NO_RETRIES, ("grpc.use_local_subchannel_pool", 1)]
            other = grpc.insecure_channel(server.process.target, options=own)
            stub = pb_grpc.SaliencyStub(other)
            answers = [stub.Explain(CHEAP, timeout=120) for _ in range(10)]
            with flood.lock:
                still_flooding = flood.outstanding > 0
            other.close()
        finally:
            flood.finish()
        assert all(a.results[0].error.code == 0 for a in answers)
        assert still_flooding
        # The flood saturated its share (its excess was refused); the other was never refused.
        assert flood.codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 1


def stopped_batches(server: Server, method: str) -> tuple[float, float]:
    """(batches stopped by a cancellation, those of them that started at most one pass after)."""
    samples = server.samples()
    labels = {"model": "shapes", "method": method}
    return (
        value(samples, "saliency_passes_after_cancel_count", **labels),
        value(samples, "saliency_passes_after_cancel_bucket", **labels, le="1.0"),
    )


def cancelled_cleanly(server: Server, method: str, before: tuple[float, float]) -> None:
    """The cancelled work stopped within one pass, nothing is left queued or in flight, and a
    cheap call then succeeds."""
    assert wait_until(lambda: stopped_batches(server, method)[0] > before[0], timeout=120)
    assert wait_until(server.idle, timeout=60)
    stopped, within_one = stopped_batches(server, method)
    assert within_one - before[1] == stopped - before[0]
    assert server.stub.Explain(CHEAP, timeout=120).results[0].error.code == 0


def test_cancelling_an_explain_stops_its_work(server: Server) -> None:
    before = stopped_batches(server, "integrated_gradients")
    started = server.passes("integrated_gradients")
    call = server.stub.Explain.future(long_request(), timeout=600)
    assert wait_until(lambda: server.passes("integrated_gradients") > started, timeout=120)
    call.cancel()
    cancelled_cleanly(server, "integrated_gradients", before)


def test_cancelling_an_explain_stream_stops_its_work(server: Server) -> None:
    before = stopped_batches(server, "integrated_gradients")
    started = server.passes("integrated_gradients")
    requests = iter([pb.ExplainStreamRequest(request_id="long", request=long_request())])
    stream = server.stub.ExplainStream(requests, timeout=600)
    assert wait_until(lambda: server.passes("integrated_gradients") > started, timeout=120)
    stream.cancel()
    cancelled_cleanly(server, "integrated_gradients", before)


def evaluate_request(images: int = 8) -> pb.EvaluateRequest:
    return pb.EvaluateRequest(
        model="shapes",
        items=[pb.LabelledImage(image=pixels(IMAGES[i]), label=i % 6) for i in range(images)],
        attacks=[pb.AttackSpec(method=pb.ATTACK_METHOD_PGD, params={"steps": number(1000)})],
        epsilons=[i / 255 for i in range(1, 9)],
    )


def test_cancelling_an_evaluate_stops_its_work(server: Server) -> None:
    before = stopped_batches(server, "pgd")
    started = server.passes("pgd")
    stream = server.stub.Evaluate(evaluate_request(), timeout=600)
    assert next(stream).stage.startswith("pgd")
    assert wait_until(lambda: server.passes("pgd") > started, timeout=120)
    stream.cancel()
    cancelled_cleanly(server, "pgd", before)


def test_cancellation_and_deadlines_stop_an_assess_and_its_randomised_model(
    server: Server,
) -> None:
    request = pb.AssessRequest(
        model="shapes",
        items=[pb.AssessItem(image=pixels(IMAGES[i])) for i in range(8)],
        methods=[pb.ExplainSpec(method=IG, params={"steps": number(256)})],
        metrics=[pb.MetricSpec(metric=pb.ASSESSMENT_METRIC_MODEL_RANDOMISATION)],
    )
    stopped = stopped_batches(server, "integrated_gradients")
    stream = server.stub.Assess(request, timeout=600)
    stages = iter(stream)
    assert next(stages).stage == "integrated_gradients: maps"
    assert next(stages).stage == "integrated_gradients: model_randomisation"
    before = server.passes("integrated_gradients")
    assert wait_until(lambda: server.passes("integrated_gradients") > before, timeout=120)
    stream.cancel()
    cancelled_cleanly(server, "integrated_gradients", stopped)

    def dropped() -> float:
        samples = server.samples()
        return sum(value(samples, "saliency_dropped_items_total", model="shapes", reason=reason)
                   for reason in ("deadline", "cancelled"))

    before = dropped()
    with pytest.raises(grpc.RpcError) as late:
        list(server.stub.Assess(request, timeout=5))
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    assert wait_until(lambda: dropped() > before, timeout=120)
    assert wait_until(server.idle, timeout=60)


def test_sigterm_with_an_evaluate_in_flight_exits_within_the_grace_period(
    repository: Path,
) -> None:
    grace = 2.0
    with start(repository, "--grace-period-s", str(grace), *NO_COST_CAPS) as server:
        stream = server.stub.Evaluate(evaluate_request(), timeout=600)
        assert next(stream).stage.startswith("pgd")
        server.process.terminate()
        assert server.process.wait(timeout=grace + 30) == 0
        with pytest.raises(grpc.RpcError) as ended:
            list(stream)
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]


def test_requests_over_a_cap_are_refused_before_any_compute(repository: Path) -> None:
    limits = {"SALIENCY_MAX_MESSAGE_BYTES": str(1 << 20)}
    with start(repository, "--max-request-seconds", "0.05", env=limits) as server:
        before = server.samples()
        with pytest.raises(grpc.RpcError) as costly:
            server.stub.Explain(long_request(), timeout=60)
        assert costly.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
        assert "limit per request" in costly.value.details()  # type: ignore[attr-defined]
        assert "saliency-retry-after-ms" not in dict(costly.value.trailing_metadata())  # type: ignore[attr-defined]
        # Small PNGs whose maps (six classes each, 512 × 512 floats) cannot fit one message.
        flat = np.full((512, 512, 3), 128, np.uint8)
        big = pb.ExplainRequest(
            model="shapes",
            method=pb.EXPLAIN_METHOD_VANILLA_GRADIENT,
            items=[pb.ExplainItem(image=png(flat), top_k=6) for _ in range(4)],
        )
        with pytest.raises(grpc.RpcError) as too_big:
            server.stub.Explain(big, timeout=60)
        assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
        assert "MiB" in too_big.value.details()  # type: ignore[attr-defined]
        after = server.samples()
        for name in ("saliency_passes_total", "saliency_compute_duration_seconds_count"):
            assert {k: v for k, v in after.items() if k[0] == name} == {
                k: v for k, v in before.items() if k[0] == name
            }
        assert value(after, "saliency_rejected_requests_total", model="shapes", reason="cost") == 1
        assert value(after, "saliency_rejected_requests_total", model="shapes", reason="reply") == 1


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def series(text: str) -> set[str]:
    """Each sample line without its value: the set of (name, labels) the server exports."""
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}


def test_client_text_is_echoed_short_and_unknown_names_do_not_grow_the_metrics(
    server: Server,
) -> None:
    name = "m" * 20_000
    client = SaliencyClient(server.process.target, timeout=60)
    with client, pytest.raises(NotFound) as lost:
        client.explain(IMAGES[0], model=name, method="grad_cam")
    assert len(lost.value.details) < 300
    samples = server.samples()
    labels = {"rpc": "Explain", "model": "unknown", "method": "grad_cam", "code": "NOT_FOUND"}
    assert value(samples, "saliency_requests_total", **labels) == 1  # reached the server once
    first = metrics_text(server.metrics_port)
    for i in range(300):
        request = pb.ExplainRequest(
            model=f"{i}-{'x' * 500}", method=pb.EXPLAIN_METHOD_GRAD_CAM, items=CHEAP.items
        )
        with pytest.raises(grpc.RpcError):
            server.stub.Explain(request, timeout=60)
    last = metrics_text(server.metrics_port)
    assert series(last) == series(first)
    assert abs(len(last) - len(first)) < 200  # only counts and latencies changed


def test_health_watch_streams_serving_on_the_main_port(server: Server) -> None:
    stub = health_pb2_grpc.HealthStub(server.channel)
    for service in ("", "saliency.v1.Saliency"):
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=service), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
