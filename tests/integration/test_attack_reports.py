"""Attacks through the service on the demo model: the seeds' orderings, minimal ε, engine checks."""

from __future__ import annotations

import numpy as np
import pytest
from saliency_client import SaliencyClient
from saliency_service.demo.shapes import generate

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
    for i, r in enumerate(found):
        if np.isfinite(r.eps) and r.eps > 0:
            assert r.success and r.label_after_onnx != r.label_before
    # An independent check through plain FGSM, with a per-image ε in one request.
    indices = [i for i, _ in flippable]
    at = client.attack([images[i] for i in indices], model=MODEL, method="fgsm",
                       eps=[eps for _, eps in flippable])
    below = client.attack([images[i] for i in indices], model=MODEL, method="fgsm",
                          eps=[max(eps - precision, 0.0) for _, eps in flippable])
    assert all(r.success for r in at)
    assert not any(r.success for r in below)


def test_torch_and_onnx_disagreement_at_the_boundary_is_reported(client) -> None:  # type: ignore[no-untyped-def]
    """Images straddling the decision boundary, where float rounding decides the label."""
    image = generate(1, seed=91_003).images[0].astype(np.float32) / 255
    (adv,) = client.attack([image], model=MODEL, method="pgd", eps=8 / 255, steps=10)
    assert adv.success
    start, end = image.astype(np.float64), adv.adversarial.astype(np.float64)

    def labels(ts: np.ndarray) -> list:  # type: ignore[type-arg]
        points = [np.clip(start + t * (end - start), 0, 1).astype(np.float32) for t in ts]
        return client.attack(points, model=MODEL, method="fgsm", eps=0.0)

    lo, hi = 0.0, 1.0  # torch's label at lo is the clean one, at hi it is not
    for _ in range(40):
        mid = (lo + hi) / 2
        result = labels(np.array([mid]))[0]
        lo, hi = (mid, hi) if result.label_after_torch == adv.label_before else (lo, mid)
    results = labels(np.linspace(lo - 2e-5, hi + 2e-5, 200))
    for r in results:
        assert r.engines_agree == (r.label_after_torch == r.label_after_onnx)
        assert r.linf == 0.0
        # Success is ORT's verdict, even where torch says otherwise.
        assert r.success == (r.label_after_onnx != r.label_before)
    assert any(not r.engines_agree for r in results), "no disagreement found at the boundary"
