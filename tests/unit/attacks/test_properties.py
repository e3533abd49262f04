"""Properties every registered attack must have, parametrized over the registry itself."""

from __future__ import annotations

import pytest
import torch
from saliency_service.attacks import ATTACKS, AttackOutput
from saliency_service.attacks._params import LINF_EPS
from saliency_service.errors import InvalidRequest
from saliency_service.models.classifier import Classifier
from torch import Tensor
from torch.nn import functional as F

from tests.unit.attacks.conftest import predictions, random_images, run_attack

AUTOATTACK_FAMILY = ("apgd_ce", "apgd_t", "fab_t", "square", "autoattack")
# Attacks whose budget is the shared L∞ ε parameter.
LINF_BUDGET = tuple(name for name, spec in ATTACKS.items() if spec.eps is LINF_EPS)
# Attacks that return an image unchanged when they cannot make it succeed.
SUCCESS_OR_NOTHING = ("cw_l2", *AUTOATTACK_FAMILY)
# Different budgets per image, so a mix-up between rows would show.
EPS = torch.tensor([2 / 255, 4 / 255, 8 / 255, 16 / 255, 3 / 255, 6 / 255])


@pytest.fixture(scope="module")
def batch(tiny: Classifier) -> tuple[Tensor, Tensor]:
    images = random_images(6, 16)
    return images, predictions(tiny, images)


def eps_for(name: str) -> dict[str, Tensor]:
    if "eps" not in {p.name for p in ATTACKS[name].params}:
        return {}
    return {"eps": EPS * 40 if name == "pgd_l2" else EPS}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_pixels_stay_valid_and_within_budget(
    name: str, tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    output = run_attack(name, tiny, images, labels, **eps_for(name))
    assert isinstance(output, AttackOutput)
    adversarial = output.adversarial
    assert adversarial.shape == images.shape
    assert adversarial.min() >= 0
    assert adversarial.max() <= 1
    delta = (adversarial - images).flatten(1)
    if name in LINF_BUDGET:
        assert torch.all(delta.abs().amax(dim=1) <= EPS + 1e-6)
    if name == "pgd_l2":
        assert torch.all(delta.norm(dim=1) <= 40 * EPS + 1e-5)
    if name == "minimal_epsilon":
        assert output.eps is not None
        found = torch.isfinite(output.eps)
        assert torch.all(delta.abs().amax(dim=1)[found] <= output.eps[found] + 1e-6)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_batch_equals_one_image_at_a_time(
    name: str, tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    budget = eps_for(name)
    # A non-default seed, so that random starts are exercised with it.
    seed = {"seed": 7} if "seed" in {p.name for p in ATTACKS[name].params} else {}
    together = run_attack(name, tiny, images, labels, **budget, **seed)
    for i in range(len(images)):
        own_budget = {key: value[i : i + 1] for key, value in budget.items()}
        alone = run_attack(name, tiny, images[i : i + 1], labels[i : i + 1], **own_budget, **seed)
        assert (together.adversarial[i] - alone.adversarial[0]).abs().max() <= 1e-5, i
        if together.eps is not None:
            assert alone.eps is not None
            assert torch.equal(together.eps[i : i + 1], alone.eps)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_leaves_input_and_model_untouched(
    name: str, tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    before = images.clone()
    run_attack(name, tiny, images, labels, **eps_for(name))
    assert torch.equal(images, before)
    assert all(p.grad is None for p in tiny.parameters()), "gradients leaked into the weights"


def assert_moved_towards_goal(
    name: str, model: Classifier, images: Tensor, adversarial: Tensor, goal: Tensor, targeted: bool
) -> None:
    """Cross-entropy at `goal` went down (targeted) or up (untargeted) for every image; for the
    attacks in SUCCESS_OR_NOTHING, each image succeeded or came back unchanged instead."""
    with torch.no_grad():
        clean = F.cross_entropy(model(images), goal, reduction="none")
        logits = model(adversarial)
    if name in SUCCESS_OR_NOTHING:
        predicted = logits.argmax(dim=1)
        success = predicted == goal if targeted else predicted != goal
        unchanged = (adversarial == images).flatten(1).all(dim=1)
        assert torch.all(success | unchanged)
        assert success.any()
        return
    attacked = F.cross_entropy(logits, goal, reduction="none")
    assert torch.all(attacked < clean if targeted else attacked > clean)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_untargeted_attack_raises_the_loss(
    name: str, tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    adversarial = run_attack(name, tiny, images, labels, **eps_for(name)).adversarial
    assert_moved_towards_goal(name, tiny, images, adversarial, labels, targeted=False)


@pytest.mark.parametrize("name", sorted(n for n, spec in ATTACKS.items() if spec.targeted))
def test_targeted_attack_lowers_the_target_loss(
    name: str, tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    targets = (labels + 5) % 10
    adversarial = run_attack(
        name, tiny, images, labels, targets=targets, **eps_for(name)
    ).adversarial
    assert_moved_towards_goal(name, tiny, images, adversarial, targets, targeted=True)


@pytest.mark.parametrize("name", sorted(n for n, spec in ATTACKS.items() if not spec.targeted))
def test_untargeted_only_attack_refuses_targets(
    name: str, tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    with pytest.raises(InvalidRequest, match="untargeted"):
        run_attack(name, tiny, images, labels, targets=labels)
