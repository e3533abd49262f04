"""Versions change while a client streams requests: a real server polls its repository.

Version 2 dropped into the repository takes over once: no request fails, responses switch
version exactly once, and a request that began on version 1 (held at its first gradient pass
by a gate, not by compute time) finishes on version 1. A broken version 3 leaves version 2
serving and is reported with its reason. Admin calls need the admin token.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from tests import model_zoo as zoo
from tests.integration.messages import pixels
from tests.integration.server_process import wait_until
from tests.serving import ServerThread

pytestmark = pytest.mark.integration
ADMIN_TOKEN = "admin-secret-for-tests"
MAX_REQUESTS = 3000
MAX_SECONDS = 150.0


def drop(repository: Path, version: int, *, broken: bool = False) -> None:
    """Write version `version` beside the repository, then rename it in (one atomic step)."""
    staging = repository.parent / f"staging-{version}"
    zoo.write_shapes_version(staging, seed=version, instances=2)
    if broken:
        (staging / "weights.safetensors").write_bytes(b"\x00" * 64)
    os.rename(staging, repository / "live" / str(version))


class Gate:
    """Holds the first gradient pass of the engine after `arm()` until `release()`."""

    def __init__(self) -> None:
        self.armed = False
        self.held = threading.Event()
        self.released = threading.Event()

    def __call__(self, rows: int) -> None:
        if self.armed:
            self.armed = False
            self.held.set()
            assert self.released.wait(MAX_SECONDS)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    repository = tmp_path / "repository"
    zoo.write_shapes_version(repository / "live" / "1", seed=1, instances=2)
    running = ServerThread(repository, repository_poll_s=0.2, admin_tokens=ADMIN_TOKEN)
    try:
        yield running
    finally:
        running.stop()


def test_a_new_version_takes_over_once_and_a_broken_one_leaves_it_serving(
    server: ServerThread,
) -> None:
    repository = server.config.repository
    gate = Gate()
    server.running.engine.pool.observers.append(gate)
    picture = np.random.default_rng(0).random((zoo.SIZE, zoo.SIZE, 3), dtype=np.float32)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SaliencyStub(channel)
        # A long request on version 1, held inside its first gradient pass.
        gate.armed = True
        held = stub.Explain.future(pb.ExplainRequest(
            model="live", method=pb.EXPLAIN_METHOD_VANILLA_GRADIENT,
            items=[pb.ExplainItem(image=pixels(picture))],
        ), timeout=MAX_SECONDS)
        assert gate.held.wait(60)

        versions: list[str] = []
        failures: list[BaseException] = []
        stop = threading.Event()

        def stream() -> None:
            started = time.monotonic()
            for _ in itertools.repeat(None, MAX_REQUESTS):
                if stop.is_set() or time.monotonic() - started > MAX_SECONDS:
                    return
                try:
                    reply = stub.Predict(pb.PredictRequest(model="live", images=[pixels(picture)]),
                                         timeout=60)
                    versions.append(reply.model_version)
                except grpc.RpcError as error:
                    failures.append(error)

        client = threading.Thread(target=stream)
        client.start()
        assert wait_until(lambda: len(versions) >= 3, 60)
        drop(repository, 2)
        assert wait_until(lambda: "2" in versions[-1:], MAX_SECONDS)
        assert wait_until(lambda: versions.count("2") >= 3, 60)
        gate.released.set()
        finished = held.result(timeout=MAX_SECONDS)
        stop.set()
        client.join(MAX_SECONDS)

        assert failures == []
        switch = versions.index("2")
        assert set(versions[:switch]) == {"1"} and set(versions[switch:]) == {"2"}
        assert finished.model_version == "1" and finished.results[0].error.code == 0

        drop(repository, 3, broken=True)

        def listed() -> dict[str, pb.ModelInfo]:
            models = stub.ListModels(pb.ListModelsRequest(), timeout=30).models
            return {m.version: m for m in models if m.name == "live"}

        assert wait_until(lambda: "3" in listed(), MAX_SECONDS)
        rows = listed()
        assert set(rows) == {"2", "3"}  # 1 left once 2 was ready: "latest" serves one
        assert rows["2"].ready and rows["2"].is_default_version
        assert not rows["3"].ready and "not a valid safetensors file" in rows["3"].status
        reply = stub.Predict(pb.PredictRequest(model="live", images=[pixels(picture)]), timeout=60)
        assert reply.model_version == "2"
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(pb.PredictRequest(model="live", model_version="3",
                                           images=[pixels(picture)]), timeout=60)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

        admin = pb_grpc.AdminStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            admin.ReloadModels(pb.ReloadModelsRequest(), timeout=60)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        changes = admin.ReloadModels(
            pb.ReloadModelsRequest(models=["live"]), timeout=MAX_SECONDS,
            metadata=(("authorization", f"Bearer {ADMIN_TOKEN}"),),
        ).changes
        assert list(changes) == []  # the broken files are not loaded again until they change
