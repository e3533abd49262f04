"""Method-specific behaviour: BIM's step rule, random starts, early stop, DeepFool's candidates."""

from __future__ import annotations

import pytest
import torch
from saliency_service.attacks.bim import kurakin_steps
from saliency_service.attacks.pgd_l2 import random_l2_start
from saliency_service.models.classifier import Classifier
from torch import Tensor

from tests.unit.attacks.conftest import predictions, random_images, run_attack


@pytest.fixture(scope="module")
def batch(tiny: Classifier) -> tuple[Tensor, Tensor]:
    images = random_images(6, 16, seed=9)
    return images, predictions(tiny, images)


def test_kurakin_steps_match_torchattacks_formula_at_whole_levels() -> None:
    levels = range(0, 65)
    eps = torch.tensor([k / 255 for k in levels], dtype=torch.float32)
    expected = [int(min(k / 255 * 255 + 4, 1.25 * k / 255 * 255)) for k in levels]
    assert kurakin_steps(eps).tolist() == expected


@pytest.mark.parametrize("name", ["pgd", "pgd_l2"])
def test_random_start_depends_on_the_seed_only(
    name: str, tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    first = run_attack(name, tiny, images, labels, seed=1, steps=1).adversarial
    assert torch.equal(first, run_attack(name, tiny, images, labels, seed=1, steps=1).adversarial)
    assert not torch.equal(
        first, run_attack(name, tiny, images, labels, seed=2, steps=1).adversarial
    )
    fixed = run_attack(name, tiny, images, labels, random_start=False, steps=1).adversarial
    assert not torch.equal(first, fixed)


def test_l2_start_is_inside_the_ball_near_its_surface() -> None:
    # Uniform in volume in D = 768 dimensions puts almost all mass within 1% of the surface.
    images = torch.full((3, 3, 16, 16), 0.5)
    eps = torch.tensor([0.5, 1.0, 2.0])
    for seed in range(5):
        radius = (random_l2_start(images, eps, seed) - images).flatten(1).norm(dim=1)
        assert torch.all(radius <= eps * (1 + 1e-6))
        assert torch.all(radius >= 0.99 * eps)


@pytest.mark.parametrize("name", ["bim", "pgd", "pgd_l2", "mi_fgsm"])
def test_early_stop_returns_the_first_successful_iterate(
    name: str, tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    # Small steps, so that images flip at different iterations; no random start, whose point
    # (iterate 0) may already succeed and is not among the k ≥ 1 step results compared below.
    budget = {"eps": 2.0, "alpha": 0.02} if name == "pgd_l2" else {"eps": 0.1, "alpha": 0.5 / 255}
    if name.startswith("pgd"):
        budget["random_start"] = False
    steps = 5
    stopped = run_attack(name, tiny, images, labels, steps=steps, early_stop=True, **budget)
    truncated = [
        run_attack(name, tiny, images, labels, steps=k, **budget).adversarial
        for k in range(1, steps + 1)
    ]
    flipped = predictions(tiny, stopped.adversarial) != labels
    stopped_early = 0
    for i in range(len(images)):
        # Each image is the k-step result for some k, and stopped early only because it flipped.
        same = [bool(torch.equal(stopped.adversarial[i], run[i])) for run in truncated]
        assert any(same), i
        if not same[-1]:
            assert flipped[i], i
            stopped_early += 1
    assert 0 < stopped_early < len(images), "the budget should stop some images early, not all"


def test_deepfool_with_few_candidates_still_flips(
    tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    adversarial = run_attack("deepfool", tiny, images, labels, candidates=2, steps=50)
    assert torch.all(predictions(tiny, adversarial.adversarial) != labels)
    assert adversarial.eps is None
