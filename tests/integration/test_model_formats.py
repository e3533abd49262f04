"""The models users bring, on a real server: a timm CNN, a timm ViT, a Hugging Face ViT folder, a
torch.export program and an ONNX-only folder. Each map equals the one computed in this process
by the same method on the same weights loaded independently (timm, transformers and torch's own
loaders); each attack's ONNX Runtime verdict equals this process's torch one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import onnxruntime as ort
import pytest
import torch
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc
from saliency_service.explainers import EXPLAINERS
from torch import nn

from tests import model_zoo as zoo
from tests.integration.messages import pixels
from tests.serving import ServerThread

pytestmark = pytest.mark.integration
GRADIENT_FAMILY = {
    "vanilla_gradient": {},
    "input_x_gradient": {},
    "smoothgrad": {"samples": 4},
    "integrated_gradients": {"steps": 16},
    "grad_cam": {},
}
VIT_METHODS = {**GRADIENT_FAMILY, "attention_rollout": {}}
RELU_METHODS = {**GRADIENT_FAMILY, "cam": {}, "guided_backprop": {}, "deeplift": {}}
EPS = 8 / 255


class HFLogits(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=images).logits  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def zoo_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("zoo")
    zoo.write_timm(root, "timm_cnn", "test_resnet", zoo.CNN_SIZE)
    zoo.write_timm(root, "timm_vit", "test_vit", zoo.SIZE, **zoo.VIT_ARGS)
    zoo.write_hf_vit(root, "hf_vit")
    zoo.write_exported(root, "exported")
    zoo.write_onnx_only(root, "onnx_only")
    return root


@pytest.fixture(scope="module")
def stub(zoo_repository: Path) -> Iterator[pb_grpc.SaliencyStub]:
    server = ServerThread(zoo_repository)
    try:
        with grpc.insecure_channel(server.target) as channel:
            yield pb_grpc.SaliencyStub(channel)
    finally:
        server.stop()


def oracle(name: str, repository: Path) -> nn.Module:
    """The model `name`, pixels in [0, 1] to logits, loaded by its own library."""
    if name.startswith("timm_"):
        import timm

        arguments: dict[str, Any] = zoo.VIT_ARGS if name == "timm_vit" else {}
        network = zoo.timm_network("test_vit" if name == "timm_vit" else "test_resnet",
                                   **arguments)
        config = timm.data.resolve_data_config({}, model=network)
        return zoo.Pixels(network, list(config["mean"]), list(config["std"])).eval()
    if name == "hf_vit":
        from transformers import ViTForImageClassification

        hf = ViTForImageClassification.from_pretrained(str(repository / name))
        return zoo.Pixels(HFLogits(hf.eval()), zoo.HF_MEAN, zoo.HF_STD).eval()
    # The exported program's network, as it was before export.
    return zoo.Pixels(zoo.shapes_network(), [0.0] * 3, [1.0] * 3).eval()


def image(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((size, size, 3), dtype=np.float32)


def in_process(model: nn.Module, method: str, params: dict[str, Any], layer: str,
               picture: np.ndarray, target: int) -> torch.Tensor:
    spec = EXPLAINERS[method]
    arguments: dict[str, Any] = {p.name: p.default for p in spec.params} | params
    if "layer" in arguments:
        arguments["layer"] = model.network.get_submodule(layer)  # type: ignore[union-attr]
    images = torch.from_numpy(picture).permute(2, 0, 1)[None]
    return spec.function(model, images, torch.tensor([target]), **arguments).heatmap[0]


def heatmap(message: pb.ClassExplanation) -> torch.Tensor:
    shape = tuple(message.heatmap.shape)
    return torch.from_numpy(np.frombuffer(message.heatmap.data, "<f4").reshape(shape).copy())


def explain(stub: pb_grpc.SaliencyStub, model: str, method: str, params: dict[str, Any],
            picture: np.ndarray, target: int) -> pb.ExplainResponse:
    request = pb.ExplainRequest(
        model=model,
        method=pb.ExplainMethod.Value("EXPLAIN_METHOD_" + method.upper()),
        items=[pb.ExplainItem(image=pixels(picture), targets=[target])],
    )
    for key, value in params.items():
        request.params[key].number = value
    return stub.Explain(request, timeout=300)


CASES = [("timm_cnn", VIT_METHODS.keys() - {"attention_rollout"}), ("timm_vit", VIT_METHODS),
         ("hf_vit", VIT_METHODS), ("exported", RELU_METHODS)]


@pytest.mark.parametrize(("name", "methods"), CASES, ids=[c[0] for c in CASES])
def test_maps_equal_the_same_weights_in_process(
    stub: pb_grpc.SaliencyStub, zoo_repository: Path, name: str, methods: Any
) -> None:
    info = stub.GetModel(pb.GetModelRequest(name=name), timeout=30).model
    assert info.ready and info.default_cam_layer, info
    model = oracle(name, zoo_repository)
    picture = image(info.input_height)
    for method in sorted(methods):
        params = {**GRADIENT_FAMILY, **RELU_METHODS, **VIT_METHODS}[method]
        response = explain(stub, name, method, params, picture, target=1)
        result = response.results[0]
        assert result.error.code == 0, (method, result.error.message)
        got = heatmap(result.explanations[0])
        expected = in_process(model, method, params, info.default_cam_layer, picture, 1)
        gap = float((got - expected).abs().max() / expected.abs().max().clamp_min(1e-12))
        assert gap <= 1e-5, (name, method, gap)


@pytest.mark.parametrize("name", ["timm_cnn", "timm_vit", "hf_vit", "exported"])
def test_attacks_are_confirmed_by_onnx_runtime(
    stub: pb_grpc.SaliencyStub, zoo_repository: Path, name: str
) -> None:
    info = stub.GetModel(pb.GetModelRequest(name=name), timeout=30).model
    request = pb.AttackRequest(
        model=name, method=pb.ATTACK_METHOD_FGSM,
        items=[pb.AttackItem(image=pixels(image(info.input_height, seed))) for seed in range(3)],
    )
    request.params["eps"].number = EPS
    model = oracle(name, zoo_repository)
    for result in stub.Attack(request, timeout=300).results:
        assert result.error.code == 0, result.error.message
        adversarial = np.frombuffer(result.adversarial.data, "<f4").reshape(
            tuple(result.adversarial.shape)
        )
        with torch.no_grad():
            expected = int(model(torch.from_numpy(adversarial.copy()).permute(2, 0, 1)[None])
                           .argmax())
        assert result.label_after_onnx == result.label_after_torch == expected
        assert result.engines_agree and result.linf <= EPS + 1e-6


def test_onnx_only_model_serves_forward_passes(
    stub: pb_grpc.SaliencyStub, zoo_repository: Path
) -> None:
    info = stub.GetModel(pb.GetModelRequest(name="onnx_only"), timeout=30).model
    assert info.ready and info.forward_only and not info.layers
    assert (info.input_height, info.input_width, len(info.labels)) == (zoo.SIZE, zoo.SIZE, 4)
    session = ort.InferenceSession(str(zoo_repository / "onnx_only" / "model.onnx"))
    picture = image(zoo.SIZE)
    logits = session.run(None, {"images": picture.transpose(2, 0, 1)[None]})[0][0]
    predicted = stub.Predict(pb.PredictRequest(model="onnx_only", images=[pixels(picture)]),
                             timeout=60).predictions[0]
    assert predicted.top[0].index == int(np.argmax(logits))
    assert abs(predicted.top[0].logit - float(np.max(logits))) <= 1e-4

    params = {"window": 8, "stride": 8}
    got = heatmap(explain(stub, "onnx_only", "occlusion", params, picture, 2)
                  .results[0].explanations[0])
    expected = in_process(zoo.Pixels(zoo.shapes_network(), [0.0] * 3, [1.0] * 3).eval(),
                          "occlusion", params, "", picture, 2)
    assert float((got - expected).abs().max() / expected.abs().max()) <= 1e-4
    # The black-box explanations run on ONNX Runtime alone too.
    params = {"masks": 16, "cells": 4}
    got = heatmap(explain(stub, "onnx_only", "rise", params, picture, 2)
                  .results[0].explanations[0])
    expected = in_process(zoo.Pixels(zoo.shapes_network(), [0.0] * 3, [1.0] * 3).eval(),
                          "rise", params, "", picture, 2)
    assert float((got - expected).abs().max() / expected.abs().max()) <= 1e-4

    request = pb.AttackRequest(model="onnx_only", method=pb.ATTACK_METHOD_SIMBA,
                               items=[pb.AttackItem(image=pixels(picture))])
    request.params["eps"].number = EPS
    request.params["steps"].number = 100
    result = stub.Attack(request, timeout=300).results[0]
    assert result.error.code == 0, result.error.message
    adversarial = np.frombuffer(result.adversarial.data, "<f4").reshape(zoo.SIZE, zoo.SIZE, 3)
    verdict = session.run(None, {"images": adversarial.transpose(2, 0, 1)[None].copy()})[0]
    assert result.label_after_onnx == int(np.argmax(verdict))
    assert result.linf <= EPS + 1e-6


@pytest.mark.parametrize("method", ["grad_cam", "vanilla_gradient"])
def test_onnx_only_model_refuses_what_needs_gradients(
    stub: pb_grpc.SaliencyStub, method: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        explain(stub, "onnx_only", method, {}, image(zoo.SIZE), 0)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "ONNX" in (caught.value.details() or "")
    attack = pb.AttackRequest(model="onnx_only", method=pb.ATTACK_METHOD_PGD,
                              items=[pb.AttackItem(image=pixels(image(zoo.SIZE)))])
    with pytest.raises(grpc.RpcError) as caught:
        stub.Attack(attack, timeout=60)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_onnx_only_model_is_assessed_by_forward_passes_only(
    stub: pb_grpc.SaliencyStub, zoo_repository: Path
) -> None:
    """Assess on an ONNX-only model: its deletion curve's ends are ONNX Runtime's probabilities
    of the image and of the all-black image; randomisation, which needs layers, is refused."""
    picture = image(zoo.SIZE, seed=1)
    occlusion = pb.ExplainSpec(method=pb.EXPLAIN_METHOD_OCCLUSION)
    occlusion.params["window"].number = 8
    occlusion.params["stride"].number = 8
    deletion = pb.MetricSpec(metric=pb.ASSESSMENT_METRIC_DELETION)
    deletion.params["steps"].number = 2
    deletion.params["replacement"].text = "black"
    request = pb.AssessRequest(model="onnx_only", items=[pb.AssessItem(image=pixels(picture))],
                               methods=[occlusion], metrics=[deletion])
    report = list(stub.Assess(request, timeout=300))[-1].report
    session = ort.InferenceSession(str(zoo_repository / "onnx_only" / "model.onnx"))

    def probabilities(pixels_hwc: np.ndarray) -> np.ndarray:
        logits = session.run(None, {"images": pixels_hwc.transpose(2, 0, 1)[None].copy()})[0][0]
        return np.asarray(torch.softmax(torch.from_numpy(logits).double(), 0))

    clean = probabilities(picture)
    target = int(np.argmax(clean))
    assert list(report.targets) == [target]
    curve = report.methods[0].metrics[0].curves[0].values
    black = probabilities(np.zeros_like(picture))
    assert abs(curve[0] - clean[target]) <= 1e-4
    assert abs(curve[-1] - black[target]) <= 1e-4

    request.metrics[0].CopyFrom(pb.MetricSpec(metric=pb.ASSESSMENT_METRIC_MODEL_RANDOMISATION))
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.Assess(request, timeout=60))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "ONNX" in (caught.value.details() or "")
