"""The fidelity gate keeps reduced precision where the maps survive it and refuses it where not.

Both cases run real autocast on real maps: a linear classifier whose pixel weights differ by
less than bfloat16 can resolve (its bfloat16 gradient map is flat, its float32 one is not) is
refused; a smooth one whose weights differ by far more is kept. The oracle is the definition:
a map's ranking survives only if the float32 differences are wider than bfloat16's spacing.
"""

from __future__ import annotations

import torch
from saliency_service.explainers.gradients import vanilla_gradient
from saliency_service.operations.explain_batch import ClassMap, ExplainOutput
from saliency_service.operations.fidelity import MIN_SPEARMAN, FidelityGate, judge
from torch import nn

CPU = torch.device("cpu")
PIXELS = 3 * 8 * 8


def linear_classifier(spread: float, seed: int = 0) -> nn.Module:
    """Two classes; class 0's weight on each pixel is 1 + spread × a seeded uniform draw."""
    generator = torch.Generator().manual_seed(seed)
    layer = nn.Linear(PIXELS, 2, bias=False)
    with torch.no_grad():
        layer.weight[0] = 1 + spread * torch.rand(PIXELS, generator=generator)
        layer.weight[1] = 0.0
    return nn.Sequential(nn.Flatten(), layer).eval()


def outputs(model: nn.Module, images: torch.Tensor) -> list[ExplainOutput]:
    targets = torch.zeros(len(images), dtype=torch.long)
    result = vanilla_gradient(model, images, targets)
    predicted = model(images).argmax(dim=1).tolist()
    return [
        ExplainOutput(p, str(p), [ClassMap(0, "0", result.heatmap[i], None, None)])
        for i, p in enumerate(predicted)
    ]


def gated(model: nn.Module, gate: FidelityGate, key: str) -> list[ExplainOutput]:
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return gate.explain(key, CPU, lambda: outputs(model, images))


def test_weights_closer_than_bfloat16_resolves_are_refused_and_answered_in_float32() -> None:
    model = linear_classifier(spread=1e-3)  # bfloat16's spacing at 1 is 2⁻⁷ ≈ 0.0078
    gate = FidelityGate()
    answered = gated(model, gate, "flat")
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    full = outputs(model, images)
    for got, want in zip(answered, full, strict=True):
        assert torch.equal(got.maps[0].heatmap, want.maps[0].heatmap)
        assert got.maps[0].diagnostics["reduced_precision"] == 0.0
        assert got.maps[0].diagnostics["precision_check_spearman"] < MIN_SPEARMAN
    # The verdict is kept: the next batch goes straight to float32, and says so.
    again = gated(model, gate, "flat")
    assert again[0].maps[0].diagnostics["reduced_precision"] == 0.0


def test_weights_wider_than_bfloat16_resolves_keep_reduced_precision() -> None:
    model = linear_classifier(spread=4.0)
    answered = gated(model, FidelityGate(), "wide")
    assert all(o.maps[0].diagnostics["reduced_precision"] == 1.0 for o in answered)
    assert answered[0].maps[0].diagnostics["precision_check_spearman"] >= MIN_SPEARMAN


def test_a_changed_top1_class_fails_the_check_whatever_the_maps() -> None:
    maps = [ClassMap(0, "0", torch.arange(16.0).reshape(4, 4), None, None)]
    same = judge([ExplainOutput(0, "0", maps)], [ExplainOutput(0, "0", maps)])
    flipped = judge([ExplainOutput(1, "1", maps)], [ExplainOutput(0, "0", maps)])
    assert same.passed and not flipped.passed


def test_a_lost_completeness_fails_the_check() -> None:
    kept = ClassMap(0, "0", torch.arange(16.0).reshape(4, 4), None, None, {"tolerance_met": 1.0})
    lost = ClassMap(0, "0", torch.arange(16.0).reshape(4, 4), None, None, {"tolerance_met": 0.0})
    verdict = judge([ExplainOutput(0, "0", [lost])], [ExplainOutput(0, "0", [kept])])
    assert verdict.spearman == 1.0 and not verdict.passed
