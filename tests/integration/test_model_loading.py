"""Safe loading on a real server: hostile model files are refused and run nothing, a broken model
is reported not ready with its reason while the others serve, and no ready model means exit 2."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from tests import random_models
from tests.hostile_models import (
    exported_archive,
    with_evaluated_shape,
    with_pickled_weight,
    write_exported_model,
    write_torchscript_model,
)
from tests.integration.messages import pixels
from tests.integration.server_process import ServerProcess, write_tiny_repository

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def markers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory, markers: Path) -> Iterator[pb_grpc.SaliencyStub]:
    root = tmp_path_factory.mktemp("loading")
    repository = write_tiny_repository(root / "repository")  # "shapes": ready
    archive = exported_archive()
    write_exported_model(repository, "pickled", with_pickled_weight(archive, markers / "a"))
    write_exported_model(repository, "evaluated", with_evaluated_shape(archive, markers / "b"))
    write_torchscript_model(repository, "scripted", markers / "c")
    random_models.write_model(root / "elsewhere", "outside")
    (repository / "linked").symlink_to(root / "elsewhere" / "outside")
    random_models.write_model(repository, "corrupt")
    (repository / "corrupt" / "weights.safetensors").write_bytes(b"\x00" * 64)
    with ServerProcess(repository) as server, grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.SaliencyStub(channel)


def test_hostile_or_broken_models_are_not_ready_and_nothing_in_them_ran(
    stub: pb_grpc.SaliencyStub, markers: Path
) -> None:
    models = {m.name: m for m in stub.ListModels(pb.ListModelsRequest(), timeout=30).models}
    assert {name for name, m in models.items() if m.ready} == {"shapes"}
    assert models["shapes"].status == "" and models["shapes"].input_height == 32
    expected = {
        "pickled": "pickled; only raw tensors load",
        "evaluated": "is not plain arithmetic",
        "scripted": "--trust-torchscript",
        "linked": "link to outside the repository",
        "corrupt": "not a valid safetensors file",
    }
    for name, reason in expected.items():
        assert not models[name].ready and reason in models[name].status, (name, models[name])
    assert list(markers.iterdir()) == []
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


def test_a_server_with_no_ready_model_exits_2_with_the_reasons(tmp_path: Path) -> None:
    random_models.write_model(tmp_path, "corrupt")
    (tmp_path / "corrupt" / "weights.safetensors").write_bytes(b"\x00" * 64)
    done = subprocess.run(
        [sys.executable, "-m", "saliency_service", "--repository", str(tmp_path),
         "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 2
    assert "corrupt: weights.safetensors is not a valid safetensors file" in done.stderr
    assert "Traceback" not in done.stderr
