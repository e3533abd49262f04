"""Models and inputs for the explainer tests: small, seeded, random-weight, CPU."""

from __future__ import annotations

import pytest
import torch
from saliency_service.models.classifier import Classifier
from torch import Tensor
from torchvision.models import resnet18

from tests.unit.explainers.support import IMAGENET_MEAN, IMAGENET_STD, Functional, small_cnn


@pytest.fixture(scope="session")
def resnet() -> Classifier:
    """torchvision resnet18, random seeded weights, in-place and reused ReLUs as shipped."""
    torch.manual_seed(0)
    return Classifier(resnet18(weights=None, num_classes=10), IMAGENET_MEAN, IMAGENET_STD).eval()


@pytest.fixture(scope="session")
def tiny_cnn() -> Classifier:
    """A small CNN with ReLUs and max-pools, one module per use (what Captum's hooks need)."""
    torch.manual_seed(1)
    return Classifier(small_cnn(), IMAGENET_MEAN, IMAGENET_STD).eval()


@pytest.fixture(scope="session")
def functional_cnn(tiny_cnn: Classifier) -> Classifier:
    """`tiny_cnn`'s weights and function, its ReLUs and max-pools called as functions."""
    return Classifier(Functional(tiny_cnn.network), IMAGENET_MEAN, IMAGENET_STD).eval()


@pytest.fixture(scope="session")
def images() -> Tensor:
    """Three 3×32×32 images in [0, 1]."""
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))


@pytest.fixture(scope="session")
def targets() -> Tensor:
    return torch.tensor([0, 3, 7])
