"""Small seeded models and images for the attack tests, and a registry-driven runner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torchvision
from saliency_service.attacks import ATTACKS, AttackOutput
from saliency_service.models.classifier import Classifier
from saliency_service.params import resolve_params
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NUM_CLASSES = 10

# Per attack, settings that keep the shared tests fast (fewer steps) without changing the method.
QUICK: dict[str, dict[str, Any]] = {
    "fgsm": {},
    "bim": {"steps": 5},
    "pgd": {"steps": 5},
    "pgd_l2": {"steps": 5},
    "mi_fgsm": {"steps": 5},
    "deepfool": {"steps": 10},
    "cw_l2": {"steps": 20, "lr": 0.05},
    "minimal_epsilon": {"steps": 3, "max_eps": 16 / 255, "precision": 2 / 255},
    "simba": {"steps": 200},
    "apgd_ce": {"steps": 5},
    "apgd_t": {"steps": 5, "target_count": 3},
    "fab_t": {"steps": 5, "target_count": 3},
    "square": {"queries": 100},
    "autoattack": {"steps": 5, "target_count": 3, "queries": 100},
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Run each test on one intra-op thread, restored afterwards.

    These batches are too small to gain from threads, and on a shared CPU OpenMP's spinning
    workers made them ~100× slower.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_network(seed: int = 0) -> nn.Module:
    """Two convolutions and a linear layer, with seeded random weights, for 3×16×16 images."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 8 * 8, NUM_CLASSES),
    )


@pytest.fixture(scope="module")
def tiny() -> Classifier:
    """The tiny network behind ImageNet normalisation; its parameters keep requires_grad so a
    test can see whether an attack leaked gradients into them."""
    return Classifier(tiny_network(), IMAGENET_MEAN, IMAGENET_STD).eval()


@pytest.fixture(scope="module")
def resnet() -> Classifier:
    """torchvision's resnet18 with seeded random weights and 10 classes, in eval mode."""
    torch.manual_seed(0)
    network = torchvision.models.resnet18(weights=None, num_classes=NUM_CLASSES)
    model = Classifier(network, IMAGENET_MEAN, IMAGENET_STD).eval()
    model.requires_grad_(False)
    return model


def random_images(count: int, size: int, seed: int = 1) -> Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def predictions(model: nn.Module, images: Tensor) -> Tensor:
    with torch.no_grad():
        return model(images).argmax(dim=1)


def run_attack(
    name: str,
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    targets: Tensor | None = None,
    **overrides: Any,
) -> AttackOutput:
    """Call a registry attack as the service does: resolved params, `eps` as a (N,) tensor.

    An `eps` override may be a number (for every image) or already a (N,) tensor.
    """
    spec = ATTACKS[name]
    per_image_eps = overrides.pop("eps") if isinstance(overrides.get("eps"), Tensor) else None
    params: dict[str, Any] = resolve_params(name, spec.params, {**QUICK[name], **overrides})
    if "eps" in params:
        params["eps"] = (
            torch.full((len(images),), float(params["eps"]))
            if per_image_eps is None
            else per_image_eps
        )
    return spec.function(model, images, labels, targets=targets, **params)
