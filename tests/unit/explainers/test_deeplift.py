"""DeepLIFT-Rescale: summation-to-delta on torchvision's resnet18, Captum parity where it works."""

from __future__ import annotations

import pytest
import torch
from captum.attr import DeepLift
from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers._reference import gaussian_blur
from saliency_service.explainers.deeplift import deeplift
from saliency_service.models.classifier import Classifier
from torch import Tensor, nn

from tests.unit.explainers.support import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TOLERANCE,
    max_rel_diff,
    small_cnn,
)


def _reference(kind: str, images: Tensor) -> Tensor:
    if kind == "black":
        return torch.zeros_like(images)
    if kind == "blurred":
        return gaussian_blur(images, 5.0)
    return torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)).expand_as(images)


@pytest.mark.parametrize("baseline", ["black", "blurred", "uniform"])
def test_summation_to_delta_on_resnet18(
    resnet: Classifier, images: Tensor, targets: Tensor, baseline: str
) -> None:
    # In-place, reused ReLU modules and an overlapping 3×3/2 max-pool: every difference must
    # still be accounted for, Σ (x − x') ⊙ m = f_c(x) − f_c(x').
    ours = deeplift(resnet, images, targets, baseline=baseline)
    assert ours.attributions is not None
    with torch.no_grad():
        logits = resnet(images) - resnet(_reference(baseline, images))
    delta = logits.gather(1, targets[:, None])[:, 0]
    assert torch.allclose(ours.diagnostics["score_delta"], delta, rtol=1e-4, atol=1e-6)
    total = ours.attributions.sum(dim=(1, 2, 3))
    assert ((total - delta).abs() <= 1e-3 * delta.abs()).all()
    assert (ours.diagnostics["relative_completeness_gap"] <= 1e-3).all()


@pytest.mark.parametrize(
    "layers", [{"max_pool": False}, {"relu": False}], ids=["relu_avgpool", "maxpool_only"]
)
def test_matches_captum_on_nets_it_handles(
    images: Tensor, targets: Tensor, layers: dict[str, bool]
) -> None:
    # Captum's ReLU rule and its 2×2 max-pool rule are each exact, but not together (see
    # small_cnn), so each is compared on a net that has only one of them.
    torch.manual_seed(4)
    model = Classifier(small_cnn(**layers), IMAGENET_MEAN, IMAGENET_STD).eval()
    ours = deeplift(model, images, targets, baseline="uniform").attributions
    reference = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    expected = DeepLift(model).attribute(
        images, baselines=reference.expand_as(images), target=targets
    )
    assert ours is not None
    assert max_rel_diff(ours, expected) <= TOLERANCE


def test_summation_to_delta_with_relus_and_max_pools(
    tiny_cnn: Classifier, images: Tensor, targets: Tensor
) -> None:
    ours = deeplift(tiny_cnn, images, targets)
    assert (ours.diagnostics["relative_completeness_gap"] <= 1e-3).all()


def test_functional_relus_and_pools_match_the_module_net(
    functional_cnn: Classifier, tiny_cnn: Classifier, images: Tensor, targets: Tensor
) -> None:
    ours = deeplift(functional_cnn, images, targets).attributions
    expected = deeplift(tiny_cnn, images, targets).attributions
    assert ours is not None
    assert expected is not None
    assert max_rel_diff(ours, expected) <= TOLERANCE


def test_given_reference_and_chunks(resnet: Classifier, images: Tensor, targets: Tensor) -> None:
    reference = torch.full((3, 32, 32), 0.5)
    whole = deeplift(resnet, images, targets, baseline="given", baseline_image=reference)
    chunked = deeplift(
        resnet, images, targets, baseline="given", baseline_image=reference, chunk_size=3
    )
    assert whole.attributions is not None
    assert chunked.attributions is not None
    assert max_rel_diff(chunked.attributions, whole.attributions) <= TOLERANCE
    assert (whole.diagnostics["relative_completeness_gap"] <= 1e-3).all()


def test_a_model_without_relu_or_max_pool_is_unsupported(images: Tensor, targets: Tensor) -> None:
    # No rule would apply: the result would be (x − x') ⊙ ∇f(x), not DeepLIFT.
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    with pytest.raises(UnsupportedMethod, match="no ReLU or max-pool"):
        deeplift(linear, images, targets)
