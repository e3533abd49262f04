"""minimal_epsilon: the flip boundary it reports, and its two edge cases."""

from __future__ import annotations

import pytest
import torch
from saliency_service.models.classifier import Classifier
from torch import Tensor

from tests.unit.attacks.conftest import predictions, random_images, run_attack

PRECISION = 1 / 255


@pytest.fixture(scope="module")
def batch(tiny: Classifier) -> tuple[Tensor, Tensor]:
    images = random_images(6, 16, seed=5)
    return images, predictions(tiny, images)


@pytest.mark.parametrize("attack", ["fgsm", "bim", "pgd"])
def test_flips_at_the_found_eps_and_not_one_precision_below(
    attack: str, tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    settings = {"attack": attack, "steps": 3, "precision": PRECISION, "seed": 2}
    found = run_attack("minimal_epsilon", tiny, images, labels, max_eps=32 / 255, **settings)
    assert found.eps is not None
    assert torch.all(torch.isfinite(found.eps))
    assert torch.all(found.eps > 0)
    assert torch.all(predictions(tiny, found.adversarial) != labels)
    assert torch.all((found.adversarial - images).abs().amax(dim=(1, 2, 3)) <= found.eps + 1e-6)
    # ε − precision is the top of a search that then fails everywhere, for every image.
    for i in range(len(images)):
        below = run_attack(
            "minimal_epsilon",
            tiny,
            images[i : i + 1],
            labels[i : i + 1],
            max_eps=float(found.eps[i]) - PRECISION,
            **settings,
        )
        assert below.eps is not None
        assert torch.isinf(below.eps).all(), i


def test_fgsm_result_is_fgsm_at_the_found_eps(
    tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    found = run_attack("minimal_epsilon", tiny, images, labels, attack="fgsm", max_eps=32 / 255)
    assert found.eps is not None
    direct = run_attack("fgsm", tiny, images, labels, eps=found.eps)
    assert torch.equal(found.adversarial, direct.adversarial)
    # Grid points: whole multiples of the precision.
    assert torch.allclose(found.eps / PRECISION, (found.eps / PRECISION).round(), atol=1e-4)


def test_already_misclassified_images_need_no_eps(
    tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    wrong = (labels + 1) % 10
    found = run_attack("minimal_epsilon", tiny, images, wrong, attack="fgsm")
    assert found.eps is not None
    assert torch.all(found.eps == 0)
    assert torch.equal(found.adversarial, images)


def test_unflippable_images_get_infinite_eps_and_the_strongest_attempt(
    tiny: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    tiny_budget = 2e-4
    found = run_attack(
        "minimal_epsilon", tiny, images, labels, attack="fgsm", max_eps=tiny_budget, precision=1e-4
    )
    assert found.eps is not None
    never = torch.isinf(found.eps)
    assert never.any(), "the budget should leave some images unflipped"
    assert not never.all(), "the budget should flip some images"
    strongest = run_attack("fgsm", tiny, images, labels, eps=tiny_budget).adversarial
    assert torch.equal(found.adversarial[never], strongest[never])
    assert torch.all(predictions(tiny, strongest[never]) == labels[never])
