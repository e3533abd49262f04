"""Deterministic mode over real gRPC: an image's result is bit for bit the same alone and in a
batch shared with other requests' images.

Without it the batch's shape changes how kernels round (an image's PGD example moves by up to
4/255 with its batch mates). Which requests share a batch never depends on timing: a gate holds
the device until all of them are queued, and the batch count is read from /metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from saliency_client import SaliencyClient

from tests.integration.scraping import value
from tests.integration.server_process import wait_until
from tests.integration.test_batching import (
    batches,
    batching_server,
    device_held,
    explain_one,
    heatmap,
    images,
    metrics,
    queued,
)
from tests.serving import ServerThread

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    running = batching_server(tmp_path_factory.mktemp("deterministic"))
    yield running
    running.stop()


def attack_one(target: str, image: np.ndarray, **params: Any) -> Any:
    with SaliencyClient(target) as client:
        result = client.attack([image], model="tiny", method="pgd", **params)[0]
    assert result.error is None, result.error
    return result


def shared_batch(server: ServerThread, method: str, call: Any, pictures: list[np.ndarray]
                 ) -> list[Any]:
    """`call(image)` for each picture, all four queued together behind the held device."""
    before = batches(metrics(server), "tiny", method)
    with ThreadPoolExecutor(len(pictures)) as clients, device_held(server):
        calls = [clients.submit(call, image) for image in pictures]
        assert wait_until(lambda: queued(server, "tiny") == len(pictures), timeout=120)
    results = [c.result() for c in calls]
    after = batches(metrics(server), "tiny", method)
    assert (after[0] - before[0], after[1] - before[1]) == (1, len(pictures))
    return results


def test_an_explanation_is_bit_identical_alone_and_in_a_mixed_batch(server: ServerThread) -> None:
    pictures = images(4, seed=11)
    params = {"steps": 8, "deterministic": True}
    alone = heatmap(explain_one(server.target, pictures[0], "tiny", "integrated_gradients",
                                **params))
    together = shared_batch(
        server, "integrated_gradients",
        lambda image: explain_one(server.target, image, "tiny", "integrated_gradients",
                                  **params),
        pictures,
    )
    assert np.array_equal(heatmap(together[0]), alone)


def test_a_pgd_example_is_bit_identical_alone_and_in_a_mixed_batch(server: ServerThread) -> None:
    pictures = images(4, seed=12)
    params = {"eps": 8 / 255, "steps": 5, "deterministic": True}
    alone = attack_one(server.target, pictures[0], **params)
    together = shared_batch(
        server, "pgd", lambda image: attack_one(server.target, image, **params), pictures
    )
    assert np.array_equal(np.asarray(together[0].adversarial), np.asarray(alone.adversarial))
    assert together[0].label_after_torch == alone.label_after_torch


def test_deterministic_requests_are_counted_apart(server: ServerThread) -> None:
    """The flag is part of the batching key: a deterministic request never joins a batch of
    ordinary ones (which would otherwise change its passes)."""
    before = value(metrics(server), "saliency_batch_size_count", model="tiny",
                   method="vanilla_gradient")
    pictures = images(2, seed=13)
    with ThreadPoolExecutor(2) as clients, device_held(server):
        calls = [
            clients.submit(explain_one, server.target, image, "tiny", "vanilla_gradient",
                           deterministic=flag)
            for image, flag in zip(pictures, (True, False), strict=True)
        ]
        assert wait_until(lambda: queued(server, "tiny") == 2, timeout=120)
    for c in calls:
        assert c.result().error is None
    after = value(metrics(server), "saliency_batch_size_count", model="tiny",
                  method="vanilla_gradient")
    assert after - before == 2
