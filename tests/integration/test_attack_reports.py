"""Attacks through the service on the demo model: the seeds' orderings, minimal ε, engine checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from saliency_client import SaliencyClient
from saliency_service.demo.shapes import generate
from torch import nn

from tests.integration.oracles import demo_classifier, onnx_logits
from tests.serving import ServerThread

pytestmark = pytest.mark.integration
MODEL = "shapes"
EPSILONS = [1 / 255, 2 / 255, 4 / 255, 8 / 255]


@pytest.fixture
def client(grpc_target: str):  # type: ignore[no-untyped-def]
    with SaliencyClient(grpc_target, timeout=600) as client:
        yield client


def test_bim_is_at_least_as_strong_as_fgsm_at_every_eps(client) -> None:  # type: ignore[no-untyped-def]
    batch = generate(96, seed=91_001)
    progress: list[float] = []
    report = client.evaluate(
        list(batch.images), [int(c) for c in batch.labels], model=MODEL,
        attacks={"fgsm": {}, "bim": {"steps": 10}}, epsilons=EPSILONS,
        stability_methods=["vanilla_gradient"], progress=lambda f, _: progress.append(f),
    )
    assert report.clean_accuracy >= 0.9
    curves = {c.attack: c for c in report.curves}
    for fgsm_acc, bim_acc in zip(curves["fgsm"].accuracy, curves["bim"].accuracy, strict=True):
        assert bim_acc <= fgsm_acc
    # Accuracy falls as the budget grows (Kurakin et al., Fig. 2), judged by both engines.
    for curve in curves.values():
        assert curve.accuracy[-1] < curve.accuracy[0]
        assert np.allclose(curve.accuracy, curve.onnx_accuracy, atol=2 / 96)
    assert progress == sorted(progress) and progress[-1] == 1.0
    (stability,) = [s for s in report.stability if s.attack == "bim"]
    assert len(stability.spearman) > 0
    assert all(-1.0 <= r <= 1.0 for r in stability.spearman)


def test_minimal_epsilon_flips_there_and_not_one_step_below(client) -> None:  # type: ignore[no-untyped-def]
    images = list(generate(12, seed=91_002).images)
    precision = 1 / 255
    found = client.attack(images, model=MODEL, method="minimal_epsilon", attack="fgsm",
                          precision=precision)
    flippable = [(i, r.eps) for i, r in enumerate(found) if np.isfinite(r.eps) and r.eps > 0]
    assert len(flippable) >= 8
    # ONNX Runtime's labels recomputed here, on an export made here: the adversarial at the ε
    # found is classified differently from the clean image.
    onnx = onnx_logits(demo_classifier(), 64)
    clean = onnx(np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) / 255).argmax(axis=1)
    for i, _ in flippable:
        adversarial = onnx(found[i].adversarial.transpose(2, 0, 1)[None])[0]
        assert found[i].success
        assert found[i].label_before == clean[i]
        assert found[i].label_after_onnx == adversarial.argmax() != clean[i]
    # An independent check through plain FGSM, with a per-image ε in one request.
    indices = [i for i, _ in flippable]
    at = client.attack([images[i] for i in indices], model=MODEL, method="fgsm",
                       eps=[eps for _, eps in flippable])
    below = client.attack([images[i] for i in indices], model=MODEL, method="fgsm",
                          eps=[max(eps - precision, 0.0) for _, eps in flippable])
    assert all(r.success for r in at)
    assert not any(r.success for r in below)


def knife_edge_repository(folder: Path) -> Path:
    """A real model whose two classes' weights differ by 1e-3 on a scale of 1e4.

    Every input sits at the decision boundary numerically: float32 rounding in the matrix
    product (torch and ONNX Runtime sum in different orders) is larger than the true margin,
    so the two engines disagree on many labels — the case an attack report must not hide.
    """
    torch.manual_seed(0)
    network = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2))
    with torch.no_grad():
        network[1].weight[0] = torch.randn(3 * 16 * 16) * 1e4
        network[1].weight[1] = network[1].weight[0] + torch.randn(3 * 16 * 16) * 1e-3
        network[1].bias.zero_()
    model = folder / "knife_edge"
    model.mkdir(parents=True)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(network.eval(), (torch.rand(2, 3, 16, 16),),
                                  dynamic_shapes=({0: batch},))
    torch.export.save(program, str(model / "model.pt2"))
    (model / "model.toml").write_text(
        'exported_program = "model.pt2"\nlabels = ["left", "right"]\n'
        "[input]\nheight = 16\nwidth = 16\n"
    )
    return folder


def test_torch_and_onnx_disagreement_is_reported_not_hidden(tmp_path: Path) -> None:
    server = ServerThread(knife_edge_repository(tmp_path / "repository"))
    try:
        images = list(np.random.default_rng(0).random((64, 16, 16, 3), dtype=np.float32))
        with SaliencyClient(server.target) as client:
            (info,) = client.list_models()
            # eps = 0: the "adversarial" image is the image, so only the engines can differ.
            results = client.attack(images, model="knife_edge", method="fgsm", eps=0.0)
            by_onnx = client.predict(images, model="knife_edge", top_k=1)
    finally:
        server.stop()
    assert info.onnx_max_abs_logit_gap > 1e-3  # the load-time check already shows it
    disagreements = [r for r in results if not r.engines_agree]
    assert disagreements, "expected torch and ONNX Runtime to disagree on some labels"
    for result, prediction in zip(results, by_onnx, strict=True):
        assert result.engines_agree == (result.label_after_torch == result.label_after_onnx)
        assert result.label_after_onnx == prediction.top[0].index
        assert result.linf == 0.0
        # Success is ORT's verdict: a flip torch alone sees is not claimed, and vice versa.
        assert result.success == (result.label_after_onnx != result.label_before)
    assert any(r.success for r in disagreements)
