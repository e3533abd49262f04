"""Safe loading on a real server: hostile model files are refused and run nothing, a broken model
is reported not ready with its reason while the others serve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from tests.hostile_models import READY_SIZE
from tests.integration.messages import pixels
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def stub(mixed_server: ServerProcess) -> Iterator[pb_grpc.SaliencyStub]:
    with grpc.insecure_channel(mixed_server.target) as channel:
        yield pb_grpc.SaliencyStub(channel)


def test_hostile_or_broken_models_are_not_ready_and_nothing_in_them_ran(
    stub: pb_grpc.SaliencyStub, hostile_markers: Path
) -> None:
    models = {m.name: m for m in stub.ListModels(pb.ListModelsRequest(), timeout=30).models}
    assert {name for name, m in models.items() if m.ready} == {"shapes"}
    assert models["shapes"].status == "" and models["shapes"].input_height == READY_SIZE
    expected = {
        "pickled": "pickled; only raw tensors load",
        "evaluated": "is not plain arithmetic",
        "scripted": "--trust-torchscript",
        "linked": "link to outside the repository",
        "corrupt": "not a valid safetensors file",
        "misfit": "does not fit the architecture",
        "borrowed": "'weights.safetensors' is not a file inside",
    }
    assert set(models) == {"shapes", *expected}
    for name, reason in expected.items():
        assert not models[name].ready and reason in models[name].status, (name, models[name])
        assert len(models[name].status) <= 300
    assert list(hostile_markers.iterdir()) == []
    got = stub.GetModel(pb.GetModelRequest(name="pickled"), timeout=30).model
    assert not got.ready and expected["pickled"] in got.status


def test_the_ready_model_answers_and_a_not_ready_one_is_unavailable(
    stub: pb_grpc.SaliencyStub,
) -> None:
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    request = pb.ExplainRequest(
        model="shapes",
        method=pb.EXPLAIN_METHOD_GRAD_CAM,
        items=[pb.ExplainItem(image=pixels(image))],
    )
    result = stub.Explain(request, timeout=120).results[0]
    assert result.error.code == 0 and len(result.explanations) == 1
    request.model = "corrupt"
    with pytest.raises(grpc.RpcError) as caught:
        stub.Explain(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "'corrupt' is not ready: " in (caught.value.details() or "")
    assert "not a valid safetensors file" in (caught.value.details() or "")
