"""AutoAttack's components and ensemble against torchattacks 3.5.1 (a test-only oracle).

torchattacks seeds its global generator once per call and draws each random start (and each of
Square's proposals) for the whole batch it was given, so its results depend on the batch; ours
give every image the draws a batch of one would get. So torchattacks runs one image at a time,
with the same seed, and must agree with our batched call image by image: the same images
broken, and the same adversarial images (FAB to float rounding of its projection). An image no
attempt breaks comes back unchanged from both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torchattacks
from saliency_service.attacks import ATTACKS
from saliency_service.models.classifier import Classifier
from torch import Tensor, nn

from tests.unit.attacks.conftest import predictions

CLASSES = 6
EPS = 6 / 255
SEED = 3


@pytest.fixture(scope="module")
def small() -> Classifier:
    """A seeded two-convolution network on 3×8×8 images with 6 classes: cheap enough for
    torchattacks to run image by image, and APGD-T's DLR loss needs at least 4 classes."""
    torch.manual_seed(0)
    network = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(16 * 4 * 4, CLASSES),
    )
    return Classifier(network, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def batch(small: Classifier) -> tuple[Tensor, Tensor]:
    images = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = predictions(small, images)
    labels[0] = (labels[0] + 1) % CLASSES  # misclassified before any attack
    return images, labels


def one_at_a_time(attack: Callable[[], torchattacks.Attack], images: Tensor,
                  labels: Tensor) -> Tensor:
    return torch.cat([attack()(images[i : i + 1], labels[i : i + 1]) for i in range(len(images))])


def ours(name: str, model: nn.Module, images: Tensor, labels: Tensor, **params: Any) -> Tensor:
    eps = torch.full((len(images),), EPS)
    return ATTACKS[name].function(model, images, labels, targets=None, eps=eps, seed=SEED,
                                  **params).adversarial


# name -> (our parameters, torchattacks' attack with the same settings)
CASES: dict[str, tuple[str, dict[str, Any], Callable[[nn.Module], torchattacks.Attack]]] = {
    "apgd_ce": ("apgd_ce", {"steps": 10, "restarts": 2},
                lambda m: torchattacks.APGD(m, eps=EPS, steps=10, n_restarts=2, seed=SEED)),
    "apgd_t": ("apgd_t", {"steps": 10, "target_count": CLASSES - 1},
               lambda m: torchattacks.APGDT(m, eps=EPS, steps=10, seed=SEED, n_classes=CLASSES)),
    # Two restarts: the second starts from a random point.
    "fab_t": ("fab_t", {"steps": 10, "restarts": 2, "target_count": CLASSES - 1},
              lambda m: torchattacks.FAB(m, eps=EPS, steps=10, n_restarts=2, seed=SEED,
                                         multi_targeted=True, n_classes=CLASSES)),
    "square": ("square", {"queries": 150, "restarts": 2},
               lambda m: torchattacks.Square(m, eps=EPS, n_queries=150, n_restarts=2, seed=SEED)),
    # torchattacks.AutoAttack("standard") is this MultiAttack with Square's 5000 queries; 150
    # keep the test fast.
    "autoattack": ("autoattack", {"steps": 10, "target_count": CLASSES - 1, "queries": 150},
                   lambda m: torchattacks.MultiAttack([
                       torchattacks.APGD(m, eps=EPS, steps=10, seed=SEED, loss="ce"),
                       torchattacks.APGDT(m, eps=EPS, steps=10, seed=SEED, n_classes=CLASSES),
                       torchattacks.FAB(m, eps=EPS, steps=10, seed=SEED, multi_targeted=True,
                                        n_classes=CLASSES),
                       torchattacks.Square(m, eps=EPS, n_queries=150, seed=SEED),
                   ])),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torchattacks_image_by_image(
    case: str, small: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    name, params, reference = CASES[case]
    mine = ours(name, small, images, labels, **params)
    theirs = one_at_a_time(lambda: reference(small), images, labels)
    broken_mine = predictions(small, mine) != labels
    broken_theirs = predictions(small, theirs) != labels
    assert torch.equal(broken_mine, broken_theirs)
    # Not vacuous: some images break, some hold, and the misclassified one is left alone.
    assert 1 < int(broken_mine.sum()) < len(images)
    assert torch.equal(mine[0], images[0])
    tolerance = 1e-5 if name in ("fab_t", "autoattack") else 0.0
    assert (mine - theirs).abs().max() <= tolerance


def test_the_ensemble_is_at_least_as_strong_as_each_attack(
    small: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    settings = {"steps": 10, "target_count": 3}
    ensemble = ours("autoattack", small, images, labels, queries=150, **settings)
    robust = predictions(small, ensemble) == labels
    alone = {
        "apgd_ce": ours("apgd_ce", small, images, labels, steps=10),
        "apgd_t": ours("apgd_t", small, images, labels, **settings),
        "fab_t": ours("fab_t", small, images, labels, **settings),
        "square": ours("square", small, images, labels, queries=150),
    }
    strongest_alone = min(float((predictions(small, x) == labels).float().mean())
                          for x in alone.values())
    assert float(robust.float().mean()) <= strongest_alone
    for name, adversarial in alone.items():
        held = predictions(small, adversarial) == labels
        assert not torch.any(robust & ~held), f"robust under autoattack but broken by {name}"
    # Each component breaks something the ensemble needs: the ensemble is strictly stronger
    # than its first attack here.
    assert int(robust.sum()) < int((predictions(small, alone["apgd_ce"]) == labels).sum())
