"""target_mode → targets, and targeted attacks reaching the targets it picks."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from saliency_service.attacks import TARGET_MODES, choose_targets
from saliency_service.errors import InvalidRequest
from saliency_service.models.classifier import Classifier
from torch import Tensor

from tests.unit.attacks.conftest import predictions, random_images, run_attack


def targets(logits: Tensor, mode: str, given: Tensor | None = None, seed: int = 0) -> Tensor:
    """choose_targets for a targeted mode, which never answers None."""
    chosen = choose_targets(logits, mode, given, seed)
    assert chosen is not None
    return chosen


LOGITS = torch.tensor([[0.1, 2.0, -1.0, 0.5], [3.0, -2.0, 0.0, 1.0], [0.0, 0.2, 0.4, -0.1]])


def test_none_is_untargeted() -> None:
    assert choose_targets(LOGITS, "none", None, seed=0) is None


def test_given_passes_the_requested_classes_through() -> None:
    given = torch.tensor([3, 0, 2])
    assert torch.equal(targets(LOGITS, "given", given), given)


@pytest.mark.parametrize(
    ("given", "message"),
    [(None, "needs a target_class"), (torch.tensor([0, 4, 1]), r"\[0, 3\]")],
)
def test_given_needs_valid_classes(given: Tensor | None, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        choose_targets(LOGITS, "given", given, seed=0)


def test_least_likely_is_the_lowest_logit() -> None:
    assert torch.equal(targets(LOGITS, "least_likely"), torch.tensor([2, 1, 3]))


def test_random_is_uniform_over_the_other_classes_and_seeded() -> None:
    predicted = LOGITS.argmax(dim=1)
    drawn = torch.stack([targets(LOGITS, "random", seed=s) for s in range(300)])
    assert not (drawn == predicted).any()
    for row in range(len(LOGITS)):
        counts = torch.bincount(drawn[:, row], minlength=4)
        assert counts[predicted[row]] == 0
        # 100 expected per other class; 60 is > 5 standard deviations below.
        assert (counts > 0).sum() == 3
        assert (counts[counts > 0] > 60).all()
    assert torch.equal(drawn[5], targets(LOGITS, "random", seed=5))
    # An image's target does not depend on its batch-mates.
    assert torch.equal(drawn[5][1:2], targets(LOGITS[1:2], "random", seed=5))


def test_unknown_mode_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidRequest, match=", ".join(TARGET_MODES)):
        choose_targets(LOGITS, "nearest", None, seed=0)


# Budgets large enough that every targeted attack reaches any class of the tiny model.
STRONG: dict[str, dict[str, Any]] = {
    "bim": {"eps": 0.5, "alpha": 0.05, "steps": 20},
    "pgd": {"eps": 0.5, "alpha": 0.05, "steps": 20},
    "pgd_l2": {"eps": 20.0, "alpha": 2.0, "steps": 20},
    "mi_fgsm": {"eps": 0.5, "alpha": 0.05, "steps": 20},
    "cw_l2": {"c": 10.0, "steps": 40, "lr": 0.05},
    "minimal_epsilon": {"attack": "bim", "steps": 10, "max_eps": 0.5, "precision": 0.02},
}


@pytest.mark.parametrize("mode", ["given", "least_likely", "random"])
@pytest.mark.parametrize("name", sorted(STRONG))
def test_targeted_attacks_reach_their_targets(name: str, mode: str, tiny: Classifier) -> None:
    images = random_images(4, 16, seed=3)
    with torch.no_grad():
        logits = tiny(images)
    labels = logits.argmax(dim=1)
    goal = targets(logits, mode, (labels + 1) % 10, seed=11)
    adversarial = run_attack(name, tiny, images, labels, targets=goal, **STRONG[name])
    assert torch.equal(predictions(tiny, adversarial.adversarial), goal)
