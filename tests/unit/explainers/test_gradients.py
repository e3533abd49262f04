"""Vanilla gradient, squared gradient and input × gradient against Captum."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from captum.attr import InputXGradient, Saliency
from saliency_service.explainers.base import Explanation
from saliency_service.explainers.gradients import (
    input_x_gradient,
    squared_gradient,
    vanilla_gradient,
)
from saliency_service.models.classifier import Classifier
from torch import Tensor

from tests.unit.explainers.support import TOLERANCE, max_rel_diff


def test_vanilla_gradient_is_captums_raw_saliency(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    ours = vanilla_gradient(resnet, images, targets)
    expected = Saliency(resnet).attribute(images, target=targets, abs=False)
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, expected) <= TOLERANCE


@pytest.mark.parametrize(
    ("reduce", "from_captum_abs"),
    [("abs_max", lambda a: a.amax(dim=1)), ("abs_mean", lambda a: a.mean(dim=1))],
)
def test_vanilla_heatmap_reduces_captums_absolute_saliency(
    resnet: Classifier,
    images: Tensor,
    targets: Tensor,
    reduce: str,
    from_captum_abs: Callable[[Tensor], Tensor],
) -> None:
    # Captum's abs=True saliency is |∇| per channel; Simonyan's map is its max over channels.
    ours = vanilla_gradient(resnet, images, targets, reduce=reduce)
    captum_abs = Saliency(resnet).attribute(images, target=targets, abs=True)
    assert max_rel_diff(ours.heatmap, from_captum_abs(captum_abs)) <= TOLERANCE


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_signed_reductions_keep_the_sign(
    resnet: Classifier, images: Tensor, targets: Tensor, reduce: str
) -> None:
    ours = vanilla_gradient(resnet, images, targets, reduce=reduce)
    raw = Saliency(resnet).attribute(images, target=targets, abs=False)
    expected = raw.mean(dim=1) if reduce == "mean" else raw.sum(dim=1)
    assert max_rel_diff(ours.heatmap, expected) <= TOLERANCE
    assert (ours.heatmap < 0).any()


def test_squared_gradient_is_the_square_of_captums_saliency(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    ours = squared_gradient(resnet, images, targets)
    raw = Saliency(resnet).attribute(images, target=targets, abs=False)
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, raw.square()) <= TOLERANCE
    assert max_rel_diff(ours.heatmap, raw.square().sum(dim=1)) <= TOLERANCE


def test_input_x_gradient_matches_captum(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    ours = input_x_gradient(resnet, images, targets)
    expected = InputXGradient(resnet).attribute(images, target=targets)
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, expected) <= TOLERANCE
    assert max_rel_diff(ours.heatmap, expected.sum(dim=1)) <= TOLERANCE


def test_chunking_does_not_change_the_gradient(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    whole = vanilla_gradient(resnet, images, targets).attributions
    chunked = vanilla_gradient(resnet, images, targets, chunk_size=2).attributions
    assert whole is not None
    assert chunked is not None
    assert max_rel_diff(chunked, whole) <= TOLERANCE


@pytest.mark.parametrize("method", [vanilla_gradient, squared_gradient, input_x_gradient])
def test_without_targets_the_pass_explains_the_class_it_predicts(
    resnet: Classifier, images: Tensor, method: Callable[..., Explanation]
) -> None:
    # Oracle: a separate forward pass for the class, then Captum's gradient at that class.
    with torch.no_grad():
        logits = resnet(images)
    predicted = logits.argmax(dim=1)
    ours = method(resnet, images, None, chunk_size=2)
    assert ours.logits is not None
    assert torch.equal(ours.logits.argmax(dim=1), predicted)
    assert max_rel_diff(ours.logits, logits) <= TOLERANCE
    gradient = Saliency(resnet).attribute(images, target=predicted, abs=False)
    expected = {
        vanilla_gradient: gradient,
        squared_gradient: gradient.square(),
        input_x_gradient: images * gradient,
    }[method]
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, expected) <= TOLERANCE
