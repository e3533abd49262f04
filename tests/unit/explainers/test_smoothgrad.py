"""SmoothGrad, SmoothGrad² and VarGrad against Captum's NoiseTunnel fed the same noise."""

from __future__ import annotations

import pytest
import torch
from captum.attr import NoiseTunnel, Saliency
from saliency_service.explainers.gradients import vanilla_gradient
from saliency_service.explainers.smoothgrad import smoothgrad
from saliency_service.models.classifier import Classifier
from torch import Tensor

from tests.unit.explainers.support import TOLERANCE, max_rel_diff

CAPTUM_TYPES = {
    "smoothgrad": "smoothgrad",
    "smoothgrad_squared": "smoothgrad_sq",
    "vargrad": "vargrad",
}


@pytest.mark.parametrize("mode", sorted(CAPTUM_TYPES))
def test_matches_noise_tunnel_given_the_same_noise(
    resnet: Classifier, images: Tensor, targets: Tensor, mode: str
) -> None:
    # NoiseTunnel draws one image's noise as torch.normal(0, σ, (samples, C, H, W)) from the
    # global generator, i.e. randn × σ; seeding the global generator with our seed and taking
    # σ = noise × (x_max − x_min) gives it exactly the noisy copies we promise, image by image.
    samples, noise, seed = 12, 0.2, 5
    ours = smoothgrad(
        resnet, images, targets, samples=samples, noise=noise, seed=seed, mode=mode
    ).attributions
    assert ours is not None
    tunnel = NoiseTunnel(Saliency(resnet))
    for i in range(len(images)):
        image = images[i : i + 1]
        sigma = noise * float(image.max() - image.min())
        torch.manual_seed(seed)
        expected = tunnel.attribute(
            image,
            nt_type=CAPTUM_TYPES[mode],
            nt_samples=samples,
            stdevs=sigma,
            target=int(targets[i]),
            abs=False,
        )
        assert max_rel_diff(ours[i : i + 1], expected) <= TOLERANCE


def test_without_noise_smoothgrad_is_the_gradient_and_vargrad_vanishes(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    gradient = vanilla_gradient(resnet, images, targets).attributions
    smooth = smoothgrad(resnet, images, targets, samples=3, noise=0.0).attributions
    variance = smoothgrad(resnet, images, targets, samples=3, noise=0.0, mode="vargrad")
    assert gradient is not None
    assert smooth is not None
    assert variance.attributions is not None
    assert max_rel_diff(smooth, gradient) <= TOLERANCE
    assert float(variance.attributions.abs().max()) <= 1e-6 * float(gradient.square().max())


def test_grouping_images_by_chunk_size_does_not_change_the_result(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    whole = smoothgrad(resnet, images, targets, samples=4, mode="vargrad").heatmap
    for chunk_size in (3, 9):  # fewer copies than one image has, and two images' worth
        chunked = smoothgrad(
            resnet, images, targets, samples=4, mode="vargrad", chunk_size=chunk_size
        ).heatmap
        assert max_rel_diff(chunked, whole) <= TOLERANCE


def test_noise_scales_with_each_images_range(resnet: Classifier, targets: Tensor) -> None:
    # A constant image has range 0, so every copy is the image itself: VarGrad is 0.
    flat = torch.full((1, 3, 32, 32), 0.5)
    variance = smoothgrad(resnet, flat, targets[:1], samples=3, mode="vargrad").attributions
    assert variance is not None
    assert float(variance.abs().max()) == 0.0


def test_unknown_mode_is_refused(resnet: Classifier, images: Tensor, targets: Tensor) -> None:
    with pytest.raises(ValueError, match="vargrad"):
        smoothgrad(resnet, images, targets, samples=2, mode="median")
