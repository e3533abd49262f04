"""Cross-request batching over real gRPC, seen through the real /metrics endpoint.

Two models with the same seeded weights: `tiny` batches up to 4 images and waits up to 1.5 s
for them; `solo` computes every image alone. What `solo` answers is the unbatched reference.
Which requests are waiting together never depends on timing: a gate holds the device (its first
gradient pass blocks) until every request of the test is queued.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from saliency_client import DeadlineExceeded, ExplainJob, ResourceExhausted, SaliencyClient

from tests.integration.scraping import Samples, free_port, scrape, value
from tests.integration.server_process import wait_until
from tests.random_models import write_model
from tests.serving import ServerThread
from tests.unit.engine.support import out_of_memory_above

pytestmark = pytest.mark.integration
NO_RETRIES = (("grpc.enable_retries", 0),)


def batching_server(repository: Path) -> ServerThread:
    """`tiny` (batches of up to 4, waiting up to 1.5 s) and `solo` (alone), same weights."""
    write_model(repository, "tiny", batching={"max_batch_size": 4, "max_queue_delay_ms": 1500})
    write_model(repository, "solo", batching={"max_batch_size": 1, "max_queue_delay_ms": 0})
    return ServerThread(repository, metrics_port=free_port())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    running = batching_server(tmp_path_factory.mktemp("batching"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One image per batch and room for two accepted images: easy to fill. Slices so long
    that no batch preempts another."""
    repository = tmp_path_factory.mktemp("busy")
    for name in ("tiny", "solo"):
        write_model(repository, name)
    running = ServerThread(
        repository,
        metrics_port=free_port(),
        max_batch_size=1,
        max_queue_size=2,
        max_queue_delay_ms=0,
        slice_ms=600_000,
    )
    yield running
    running.stop()


def images(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(count)]


def metrics(server: ServerThread) -> Samples:
    port = server.running.metrics_port
    assert port is not None
    return scrape(port)


def batches(samples: Samples, model: str, method: str) -> tuple[float, float]:
    """(batches computed, images in them) so far."""
    return (
        value(samples, "saliency_batch_size_count", model=model, method=method),
        value(samples, "saliency_batch_size_sum", model=model, method=method),
    )


def concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call on its own thread (each with its own client), all at once."""
    with ThreadPoolExecutor(len(calls)) as threads:
        return [f.result() for f in [threads.submit(call) for call in calls]]


def queued(server: ServerThread, model: str) -> float:
    return value(metrics(server), "saliency_queue_depth", model=model)


@contextlib.contextmanager
def device_held(server: ServerThread) -> Iterator[None]:
    """Hold the only device with one image of `solo` until the block ends: what is sent inside
    the block queues (or is refused) behind it, whatever the timing."""
    gate, started = threading.Event(), threading.Event()

    def hold(rows: int) -> None:
        started.set()
        gate.wait(120)

    observers = server.running.engine.pool.observers
    observers.append(hold)
    with ThreadPoolExecutor(1) as background:
        blocker = background.submit(
            explain_one, server.target, images(1, seed=7)[0], "solo", "vanilla_gradient"
        )
        try:
            assert started.wait(120)
            yield
        finally:
            gate.set()
            observers.remove(hold)
            assert blocker.result(timeout=120).error is None


def explain_one(target: str, image: np.ndarray, model: str, method: str, **params: Any) -> Any:
    with SaliencyClient(target) as client:
        return client.explain([image], model=model, method=method, **params)[0]


def heatmap(result: Any) -> np.ndarray:
    assert result.error is None, result.error
    return np.asarray(result.explanations[0].heatmap)


def test_compatible_requests_from_several_clients_share_one_batch(server: ServerThread) -> None:
    before = batches(metrics(server), "tiny", "integrated_gradients")
    pictures = images(4)
    with ThreadPoolExecutor(4) as clients, device_held(server):
        calls = [
            clients.submit(explain_one, server.target, image, "tiny", "integrated_gradients",
                           steps=8)
            for image in pictures
        ]
        assert wait_until(lambda: queued(server, "tiny") == 4, timeout=120)
    batched = [call.result() for call in calls]
    after = batches(metrics(server), "tiny", "integrated_gradients")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 4)
    for image, result in zip(pictures, batched, strict=True):
        alone = explain_one(server.target, image, "solo", "integrated_gradients", steps=8)
        np.testing.assert_allclose(heatmap(result), heatmap(alone), rtol=1e-4, atol=1e-6)
    count, total = batches(metrics(server), "solo", "integrated_gradients")
    assert count == total  # the reference really was computed one image at a time


def test_incompatible_requests_are_not_mixed(server: ServerThread) -> None:
    before = metrics(server)
    pictures = images(4, seed=1)
    with ThreadPoolExecutor(4) as clients, device_held(server):
        calls = [
            clients.submit(explain_one, server.target, image, "tiny", "smoothgrad", samples=4,
                           seed=seed)
            for image, seed in zip(pictures, (1, 2, 1, 2), strict=True)
        ]
        assert wait_until(lambda: queued(server, "tiny") == 4, timeout=120)
    results = [call.result() for call in calls]
    after = metrics(server)
    count = batches(after, "tiny", "smoothgrad")[0] - batches(before, "tiny", "smoothgrad")[0]
    total = batches(after, "tiny", "smoothgrad")[1] - batches(before, "tiny", "smoothgrad")[1]
    at_most_two = value(
        after, "saliency_batch_size_bucket", model="tiny", method="smoothgrad", le="2.0"
    ) - value(before, "saliency_batch_size_bucket", model="tiny", method="smoothgrad", le="2.0")
    # Two seeds, two images each: two batches of two, never one of four.
    assert (count, total, at_most_two) == (2, 4, 2)
    for image, seed, result in zip(pictures, (1, 2, 1, 2), results, strict=True):
        alone = explain_one(server.target, image, "solo", "smoothgrad", samples=4, seed=seed)
        np.testing.assert_allclose(heatmap(result), heatmap(alone), rtol=1e-4, atol=1e-6)


def test_the_explain_stream_goes_through_the_batcher(server: ServerThread) -> None:
    before = batches(metrics(server), "tiny", "grad_cam")
    pictures = images(4, seed=2)
    jobs = [ExplainJob(str(i), [image], "tiny", "grad_cam") for i, image in enumerate(pictures)]

    def stream() -> dict[str, Any]:
        with SaliencyClient(server.target) as client:
            return {a.request_id: a for a in client.explain_stream(jobs)}

    with ThreadPoolExecutor(1) as background, device_held(server):
        streamed = background.submit(stream)
        assert wait_until(lambda: queued(server, "tiny") == 4, timeout=120)
    answers = streamed.result()
    after = batches(metrics(server), "tiny", "grad_cam")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 4)
    for i, image in enumerate(pictures):
        alone = explain_one(server.target, image, "solo", "grad_cam")
        np.testing.assert_allclose(
            heatmap(answers[str(i)].results[0]), heatmap(alone), rtol=1e-4, atol=1e-6
        )


def test_simulated_out_of_memory_splits_and_succeeds(server: ServerThread) -> None:
    pictures = images(2, seed=3)
    reference = [
        explain_one(server.target, image, "solo", "integrated_gradients", steps=16)
        for image in pictures
    ]
    before = value(metrics(server), "saliency_oom_splits_total", model="tiny", device="cpu")
    observers = server.running.engine.pool.observers
    limit = out_of_memory_above(5)  # any gradient pass over 5 rows fails as out of memory
    observers.append(limit)
    try:
        with SaliencyClient(server.target) as client:
            results = client.explain(
                pictures, model="tiny", method="integrated_gradients", steps=16
            )
    finally:
        observers.remove(limit)
    after = metrics(server)
    assert value(after, "saliency_oom_splits_total", model="tiny", device="cpu") > before
    assert value(after, "saliency_rows_per_pass", model="tiny", device="cpu") <= 5
    for got, want in zip(results, reference, strict=True):
        np.testing.assert_allclose(heatmap(got), heatmap(want), rtol=1e-4, atol=1e-6)


def test_a_full_server_answers_resource_exhausted_and_accepted_requests_complete(
    busy_server: ServerThread,
) -> None:
    def small(image: np.ndarray) -> Any:
        with SaliencyClient(busy_server.target, timeout=600, options=NO_RETRIES) as client:
            try:
                return client.explain([image], model="tiny", method="vanilla_gradient")[0]
            except ResourceExhausted as error:
                return ("refused", str(error))

    with ThreadPoolExecutor(6) as clients, device_held(busy_server):
        # The held image is one of the two the server accepts: one more gets in.
        calls = [clients.submit(small, image) for image in images(6)]
        # Five are answered while the device is still held: refused at once.
        assert wait_until(lambda: sum(c.done() for c in calls) == 5, timeout=120)  # noqa: B023
        assert queued(busy_server, "tiny") == 1
    answers = [call.result() for call in calls]
    refused = [a for a in answers if isinstance(a, tuple)]
    accepted = [a for a in answers if not isinstance(a, tuple)]
    assert len(refused) == 5, answers
    assert all("busy" in message and "limit is 2" in message for _, message in refused)
    assert len(accepted) == 1
    assert all(a.error is None for a in accepted)


def test_an_expired_deadline_drops_the_work(busy_server: ServerThread) -> None:
    before = metrics(busy_server)
    with device_held(busy_server):
        with (
            SaliencyClient(busy_server.target, timeout=0.3, options=NO_RETRIES) as client,
            pytest.raises(DeadlineExceeded),
        ):
            client.explain(images(1, seed=4), model="tiny", method="vanilla_gradient")
        assert wait_until(lambda: queued(busy_server, "tiny") == 0, timeout=60)
    after = metrics(busy_server)
    dropped = sum(
        value(after, "saliency_dropped_items_total", model="tiny", reason=reason)
        - value(before, "saliency_dropped_items_total", model="tiny", reason=reason)
        for reason in ("deadline", "cancelled")
    )
    assert dropped == 1
    # Nothing of the late request reached the model: no vanilla_gradient batch of it ran.
    assert batches(after, "tiny", "vanilla_gradient") == batches(before, "tiny", "vanilla_gradient")
