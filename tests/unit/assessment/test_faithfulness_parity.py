"""Faithfulness metrics against Quantus (and Captum for normalised infidelity), like with like.

Conventions compared explicitly (README, "Conventions that differ between libraries"):
- our curves start with the unperturbed image (deletion) or end with it (insertion); Quantus's
  pixel flipping starts after the first step. Our area is over the fraction of pixels in
  [0, 1]; Quantus's over step indices (and its `calculate_auc` needs numpy's removed `trapz`).
- Quantus's "black" is each image's minimum; we pass it 0, our black.
- Quantus has no insertion metric: its pixel flipping, started from the blurred image and
  perturbing by copying the image's pixels back, computes our insertion curve.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import quantus
import torch
from captum.metrics import infidelity as captum_infidelity
from saliency_service.assessment import METRICS
from saliency_service.assessment._perturb import trapezoid
from saliency_service.assessment.base import ForwardMetric
from saliency_service.assessment.faithfulness import perturbation, subset
from saliency_service.assessment.road import linear_imputation
from saliency_service.assessment.running import forward_metric
from saliency_service.images import gaussian_blur
from saliency_service.models.classifier import Classifier
from saliency_service.params import resolve_params
from torch import Tensor

from tests.unit.assessment.conftest import SIZE
from tests.unit.assessment.oracle import (
    TOLERANCE,
    max_rel_diff,
    numpy_choice_replayed,
    replay,
    run,
)

PIXELS = SIZE * SIZE


def ours(name: str, model: Classifier, images: Tensor, maps: Tensor, targets: Tensor,
         **given: Any) -> Any:
    spec = METRICS[name]
    assert isinstance(spec, ForwardMetric)
    params = resolve_params(name, spec.params, given)
    return forward_metric(spec, model, images, maps, targets, params), params


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_deletion_follows_quantus_pixel_flipping(model, images, maps, targets, order) -> None:
    result, _ = ours("deletion", model, images, maps, targets, steps=24, order=order,
                     replacement="black")
    # Quantus flips the highest values first (and refuses negative maps): least relevant first
    # is the map turned upside down.
    flipped = maps if order == "morf" else maps.amax() + 1.0 - maps
    curve = run(quantus.PixelFlipping(features_in_step=PIXELS // 24, perturb_baseline=0.0,
                                      normalise=False, disable_warnings=True),
                model, images, targets, a_batch=flipped[:, None].numpy())
    assert max_rel_diff(result.curves[:, 1:], np.array(curve)) <= TOLERANCE
    start = result.curves[:, :1]
    area = trapezoid(torch.cat([start, torch.tensor(curve)], dim=1), torch.tensor(result.curve_x))
    assert max_rel_diff(result.values, area) <= TOLERANCE
    assert result.curve_x[0] == 0 and result.curve_x[-1] == 1 and len(result.curve_x) == 25


def test_insertion_is_quantus_pixel_flipping_from_the_blur(model, images, maps, targets) -> None:
    result, params = ours("insertion", model, images, maps, targets, steps=16, blur_sigma=3.0)
    blurred = gaussian_blur(images, 3.0)
    originals = images.reshape(len(images), -1).double().numpy()

    def put_back(arr: np.ndarray, indices: np.ndarray, **_: Any) -> np.ndarray:
        out = arr.copy()
        rows = np.arange(len(arr))[:, None]
        out[rows, indices] = originals[rows, indices]
        return out

    curve = run(quantus.PixelFlipping(features_in_step=math.ceil(PIXELS / 16),
                                      perturb_func=put_back, normalise=False,
                                      disable_warnings=True),
                model, blurred, targets, a_batch=maps[:, None].numpy())
    assert max_rel_diff(result.curves[:, 1:], np.array(curve)) <= TOLERANCE
    with torch.no_grad():
        start = model(blurred).softmax(dim=1)[torch.arange(4), targets]
    assert max_rel_diff(result.curves[:, 0], start) <= TOLERANCE


def test_a_faithful_map_deletes_faster_than_its_inverse(model, images, maps, targets) -> None:
    faithful, _ = ours("deletion", model, images, maps, targets, steps=12)
    inverse, _ = ours("deletion", model, images, -maps, targets, steps=12)
    insertion, _ = ours("insertion", model, images, maps, targets, steps=12)
    inverse_insertion, _ = ours("insertion", model, images, -maps, targets, steps=12)
    assert faithful.values.mean() < inverse.values.mean()
    assert insertion.values.mean() > inverse_insertion.values.mean()


def test_linear_imputation_matches_quantus_noisy_linear_imputation() -> None:
    image = torch.rand(3, 20, 17, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for share in (0.2, 0.7, 0.97):
        order = torch.randperm(20 * 17, generator=torch.Generator().manual_seed(6))
        removed = order[: int(share * 20 * 17)]
        mask = torch.zeros(20 * 17, dtype=torch.bool)
        mask[removed] = True
        expected = quantus.functions.perturb_func.noisy_linear_imputation(
            image.numpy(), removed.numpy(), noise=0.0)
        got = linear_imputation(image, mask.view(20, 17))
        assert max_rel_diff(got, expected) <= TOLERANCE
        assert torch.equal(got.view(3, -1)[:, ~mask], image.view(3, -1)[:, ~mask])
    # Everything removed: no boundary to take values from.
    assert torch.equal(linear_imputation(image, torch.ones(20, 17, dtype=torch.bool)),
                       torch.zeros_like(image))


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_road_accuracy_curve_matches_quantus(model, images, maps, targets, order) -> None:
    result, _ = ours("road", model, images, maps, targets, steps=9, order=order, noise=0.0)
    flipped = maps if order == "morf" else maps.amax() + 1.0 - maps
    accuracy = run(quantus.ROAD(percentages=list(range(10, 100, 10)), noise=0.0,
                                disable_warnings=True),
                   model, images, targets, a_batch=flipped[:, None].numpy())
    assert result.curves.mean(dim=0).tolist() == pytest.approx(list(accuracy.values()))
    assert result.curve_x == pytest.approx([k / 10 for k in range(1, 10)])
    # The imputation's noise: deviation `noise`, on the removed pixels only.
    spec = METRICS["road"]
    assert isinstance(spec, ForwardMetric)
    params = resolve_params("road", spec.params, {"steps": 1, "noise": 0.05, "seed": 3})
    noisy = spec.inputs(images[0], maps[0], params)[0]()
    clean = spec.inputs(images[0], maps[0], {**params, "noise": 0.0})[0]()
    difference = (noisy - clean).flatten()
    assert (difference != 0).sum() == PIXELS // 2
    assert float(difference[difference != 0].std()) == pytest.approx(0.05, rel=0.2)


@pytest.mark.parametrize("kind", ["gaussian", "square"])
def test_infidelity_matches_quantus(model, images, maps, targets, kind) -> None:
    result, params = ours("infidelity", model, images, maps, targets, samples=6, normalize=False,
                          perturbation=kind, window=8, noise=0.2)
    if kind == "gaussian":
        draws = [-perturbation(images[:1], k, params)[0] for k in range(6)]
        perturb = replay(draws)
    else:
        removals = [perturbation(images.double(), k, params).numpy().reshape(4, -1)
                    for k in range(6)]
        calls = iter(removals)

        def perturb(arr: np.ndarray, **_: Any) -> np.ndarray:
            return arr - next(calls)

    expected = run(quantus.Infidelity(perturb_patch_sizes=[SIZE], n_perturb_samples=6,
                                      perturb_func=perturb, disable_warnings=True),
                   model, images, targets, a_batch=maps[:, None].numpy())
    assert max_rel_diff(result.values, np.array(expected)) <= TOLERANCE


def test_normalised_infidelity_matches_captum(model, images, maps, targets) -> None:
    result, params = ours("infidelity", model, images, maps, targets, samples=8, noise=0.2)
    draws = torch.stack([perturbation(images[:1], k, params)[0] for k in range(8)])

    def perturb(inputs: Tensor) -> tuple[Tensor, Tensor]:
        noise = draws.repeat(len(inputs) // 8, 1, 1, 1).to(inputs)
        return noise, inputs - noise

    expected = captum_infidelity(model, perturb, images, maps[:, None].expand_as(images),
                                 target=targets, n_perturb_samples=8, normalize=True)
    assert max_rel_diff(result.values, expected) <= TOLERANCE


def test_faithfulness_correlation_matches_quantus(model, images, maps, targets) -> None:
    result, params = ours("faithfulness_correlation", model, images, maps, targets, runs=10,
                          subset_size=60)
    # Quantus draws one subset per image per run; ours are the same for every image.
    draws = [subset(PIXELS, k, params).numpy() for k in range(10) for _ in range(4)]
    with numpy_choice_replayed(draws):
        expected = run(quantus.FaithfulnessCorrelation(
            nr_runs=10, subset_size=60, perturb_baseline=0.0, normalise=False,
            return_aggregate=False, disable_warnings=True), model, images, targets,
            a_batch=maps[:, None].numpy())
    assert max_rel_diff(result.values, np.array(expected)) <= TOLERANCE
