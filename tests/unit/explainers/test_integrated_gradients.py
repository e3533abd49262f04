"""Integrated Gradients: Captum parity, completeness, closed forms, and the baselines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from saliency_service.errors import InvalidRequest
from saliency_service.explainers._reference import gaussian_blur
from saliency_service.explainers.integrated_gradients import (
    QUADRATURES,
    integrated_gradients,
    path_weights,
)
from saliency_service.models.classifier import Classifier
from scipy.ndimage import gaussian_filter
from torch import Tensor, nn

from tests.unit.explainers.support import TOLERANCE, max_rel_diff


def test_without_targets_it_explains_the_predicted_class_and_returns_its_logits(
    resnet: Classifier, images: Tensor
) -> None:
    # Oracle: a separate forward pass for the class, then Captum's IG at that class.
    with torch.no_grad():
        logits = resnet(images)
    predicted = logits.argmax(dim=1)
    ours = integrated_gradients(resnet, images, None, steps=8, chunk_size=5)
    assert ours.logits is not None
    assert torch.equal(ours.logits.argmax(dim=1), predicted)
    assert max_rel_diff(ours.logits, logits) <= TOLERANCE
    expected = IntegratedGradients(resnet).attribute(
        images, baselines=torch.zeros_like(images), target=predicted, n_steps=8
    )
    assert max_rel_diff(ours.attributions, expected) <= TOLERANCE
    delta = ours.diagnostics["score_delta"]
    with torch.no_grad():
        black = resnet(torch.zeros_like(images[:1]))[0, predicted]
    assert max_rel_diff(delta, logits[torch.arange(len(images)), predicted] - black) <= TOLERANCE

@pytest.mark.parametrize("method", QUADRATURES)
def test_matches_captum_for_every_quadrature(
    resnet: Classifier, images: Tensor, targets: Tensor, method: str
) -> None:
    steps = 8
    ours = integrated_gradients(resnet, images, targets, steps=steps, quadrature=method)
    expected = IntegratedGradients(resnet).attribute(
        images, baselines=torch.zeros_like(images), target=targets, n_steps=steps, method=method
    )
    if method == "riemann_trapezoid":
        # Captum weights the trapezoid's `steps` points spaced 1/(steps − 1) by 1/steps.
        expected = expected * steps / (steps - 1)
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, expected) <= TOLERANCE


def test_given_baseline_matches_captum_and_accepts_numpy(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    reference = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(9))
    ours = integrated_gradients(
        resnet,
        images,
        targets,
        steps=8,
        baseline="given",
        baseline_image=reference.permute(1, 2, 0).numpy(),  # (H, W, C), like every image
    )
    expected = IntegratedGradients(resnet).attribute(
        images, baselines=reference.expand_as(images), target=targets, n_steps=8
    )
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, expected) <= TOLERANCE


def test_uniform_baseline_is_seeded_uniform_noise(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    reference = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(4))
    ours = integrated_gradients(resnet, images, targets, steps=8, baseline="uniform", seed=4)
    expected = IntegratedGradients(resnet).attribute(
        images, baselines=reference.expand_as(images), target=targets, n_steps=8
    )
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, expected) <= TOLERANCE


@pytest.mark.parametrize("sigma", [0.8, 3.0, 20.0])
def test_blur_is_a_gaussian_filter_with_nearest_edges(images: Tensor, sigma: float) -> None:
    # scipy's "nearest" mode is replication; radius ⌈3σ⌉ is our truncation (20σ > image size).
    ours = gaussian_blur(images, sigma)
    radius = int(np.ceil(3 * sigma))
    expected = gaussian_filter(
        images.numpy().astype(np.float64),
        sigma=(0, 0, sigma, sigma),
        mode="nearest",
        radius=(0, 0, radius, radius),
    )
    assert max_rel_diff(ours.double(), torch.from_numpy(expected)) <= TOLERANCE


def test_completeness_gap_at_fixed_steps_is_captums_convergence_delta(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    ours = integrated_gradients(resnet, images, targets, steps=50)
    _, captum_delta = IntegratedGradients(resnet).attribute(
        images, target=targets, n_steps=50, return_convergence_delta=True
    )
    assert ours.attributions is not None
    gap = ours.diagnostics["completeness_gap"]
    delta = ours.diagnostics["score_delta"]
    assert max_rel_diff(gap, captum_delta) <= 1e-3  # a difference of sums: cancellation
    assert torch.allclose(gap, ours.attributions.sum(dim=(1, 2, 3)) - delta)
    assert torch.allclose(ours.diagnostics["relative_completeness_gap"], gap.abs() / delta.abs())


def test_completeness_gap_shrinks_with_steps_on_resnet(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    # A random-weight resnet18 is rough along the path (its scores move several times the net
    # change |Δ| between x' and x), so 50 Gauss-Legendre points leave gaps of 3-20 % of |Δ|
    # here, as in Captum; the gap is quadrature error and falls as the path is resolved.
    coarse = integrated_gradients(resnet, images, targets, steps=50)
    fine = integrated_gradients(resnet, images, targets, steps=300)
    worst_coarse = coarse.diagnostics["relative_completeness_gap"].max()
    worst_fine = fine.diagnostics["relative_completeness_gap"].max()
    assert worst_fine <= 0.25 * worst_coarse


def test_default_steps_reach_one_percent_completeness_on_resnet(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    # The default is adaptive: each image gets as many points as its own path needs.
    ours = integrated_gradients(resnet, images, targets)
    assert ours.diagnostics["relative_completeness_gap"].max() <= 0.01
    assert ours.diagnostics["steps"].min() >= 32
    again = integrated_gradients(resnet, images, targets, steps=int(ours.diagnostics["steps"][0]))
    assert torch.allclose(again.attributions[0], ours.attributions[0], atol=1e-6)


class _Kink(nn.Module):
    """f(x) = ReLU(mean(x) − 0.1868): along the path from 0 to c·1, a kink at α = 0.1868 / c.

    Gauss–Legendre's error on a kink depends on where its nodes fall: at α = 0.1868 the gap is
    2e-5 with 32 points and 2e-3 with 64; at α = 0.6206, 2e-2 with 32 and 2e-5 with 64.
    """

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x.mean(dim=(1, 2, 3)) - 0.1868)[:, None]


def test_adaptive_steps_keep_the_best_count_when_the_gap_is_not_monotone() -> None:
    x = torch.ones(2, 1, 4, 4) * torch.tensor([1.0, 0.1868 / 0.6206]).view(2, 1, 1, 1)
    targets = torch.zeros(2, dtype=torch.long)
    ours = integrated_gradients(_Kink(), x, targets, tolerance=1e-6, max_steps=64)
    assert ours.diagnostics["steps"].tolist() == [32.0, 64.0]
    assert ours.diagnostics["tolerance_met"].tolist() == [0.0, 0.0]
    assert (ours.diagnostics["relative_completeness_gap"] <= 1e-4).all()
    for i, steps in enumerate((32, 64)):
        fixed = integrated_gradients(_Kink(), x[i : i + 1], targets[:1], steps=steps)
        assert fixed.attributions is not None and ours.attributions is not None
        assert torch.equal(fixed.attributions[0], ours.attributions[i])
    reached = integrated_gradients(_Kink(), x, targets, tolerance=1e-3, max_steps=64)
    assert reached.diagnostics["steps"].tolist() == [32.0, 64.0]
    assert reached.diagnostics["tolerance_met"].tolist() == [1.0, 1.0]


class _ReluOfLinear(nn.Module):
    """f(x) = ReLU(w·x + b), b > 0 and w ≥ 0: the path from 0 stays in the linear piece."""

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu((x * self.weight).sum(dim=(1, 2, 3)) + 0.5)[:, None]


class _SumOfSquares(nn.Module):
    """f(x) = Σ x_i², whose IG from 0 is x_i² exactly: (x_i) ∫₀¹ 2αx_i dα."""

    def forward(self, x: Tensor) -> Tensor:
        return x.square().sum(dim=(1, 2, 3))[:, None]


@pytest.mark.parametrize("method", QUADRATURES)
def test_linear_region_gives_input_times_weight(images: Tensor, method: str) -> None:
    weight = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(3))
    ours = integrated_gradients(
        _ReluOfLinear(weight), images, torch.zeros(3, dtype=torch.long), steps=4, quadrature=method
    )
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, images * weight) <= TOLERANCE


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_middle"])
def test_rules_exact_for_linear_integrands_give_squares(images: Tensor, method: str) -> None:
    ours = integrated_gradients(
        _SumOfSquares(), images, torch.zeros(3, dtype=torch.long), steps=3, quadrature=method
    )
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, images.square()) <= TOLERANCE
    assert (ours.diagnostics["relative_completeness_gap"] <= 1e-5).all()


@pytest.mark.parametrize("method", QUADRATURES)
def test_path_weights_integrate_constants_and_stay_on_the_path(method: str) -> None:
    alphas, weights = path_weights(method, 7)
    assert sum(weights) == pytest.approx(1.0)
    assert all(0.0 <= a <= 1.0 for a in alphas)


def test_path_points_may_straddle_chunks(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    whole = integrated_gradients(resnet, images, targets, steps=5).attributions
    chunked = integrated_gradients(resnet, images, targets, steps=5, chunk_size=4).attributions
    assert whole is not None
    assert chunked is not None
    assert max_rel_diff(chunked, whole) <= TOLERANCE


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"baseline": "given"}, "needs the tensor parameter baseline_image"),
        ({"baseline": "given", "baseline_image": np.zeros((3, 32, 32))}, r"\(H, W, C\)"),
        ({"baseline_image": np.zeros((32, 32, 3))}, "only used with baseline 'given'"),
    ],
)
def test_bad_baseline_requests_are_invalid(
    resnet: Classifier, images: Tensor, targets: Tensor, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        integrated_gradients(resnet, images, targets, steps=2, **params)
