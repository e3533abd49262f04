"""Fixtures for the metric tests: a tiny seeded grey-scale CNN, images, maps and masks.

The oracle tests feed Quantus one-channel images: Quantus flips and samples the *values* of an
input (channel by channel), the service whole pixels, and the two coincide when a pixel is one
value. (Quantus's ROAD also indexes pixels by channel values, which only works for one channel.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from saliency_service.explainers.gradients import vanilla_gradient
from saliency_service.models.classifier import Classifier
from torch import Tensor, nn

SIZE = 24
CLASSES = 5


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread per test, restored afterwards: small batches gain nothing from more,
    and on a shared CPU OpenMP's spinning workers slow them a hundredfold."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def grey_cnn() -> Classifier:
    """Conv/BN/ReLU ×2, global average pooling, linear: every layer kind randomisation meets.

    Weights are drawn wider than PyTorch's defaults and batch-norm statistics are non-trivial,
    so the logits spread and probabilities move when pixels are removed.
    """
    torch.manual_seed(3)
    network = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, CLASSES),
    )
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.weight.mul_(3.0)
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return Classifier(network, [0.5], [0.25]).eval().requires_grad_(False)


@pytest.fixture(scope="session")
def model() -> Classifier:
    return grey_cnn()


@pytest.fixture(scope="session")
def images() -> Tensor:
    """Four 1×24×24 images in [0, 1]."""
    return torch.rand(4, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(4))


@pytest.fixture(scope="session")
def targets(model: Classifier, images: Tensor) -> Tensor:
    with torch.no_grad():
        return model(images).argmax(dim=1)


def gradient_maps(model: nn.Module, images: Tensor, targets: Tensor) -> Tensor:
    """Vanilla-gradient heatmaps: continuous, so no two pixels tie."""
    return vanilla_gradient(model, images, targets).heatmap


@pytest.fixture(scope="session")
def maps(model: Classifier, images: Tensor, targets: Tensor) -> Tensor:
    return gradient_maps(model, images, targets)


@pytest.fixture(scope="session")
def masks() -> Tensor:
    """One object box per image, of different sizes and places (the last one empty)."""
    masks = torch.zeros(4, SIZE, SIZE, dtype=torch.bool)
    masks[0, 4:12, 4:12] = True
    masks[1, 10:22, 2:20] = True
    masks[2, 0:5, 15:24] = True
    return masks
