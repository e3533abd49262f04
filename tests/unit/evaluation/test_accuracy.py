"""accuracy_under_attack against torchattacks' FGSM and BIM at the same budgets."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from saliency_service.attacks import ATTACKS
from saliency_service.evaluation import accuracy_under_attack
from saliency_service.models.classifier import Classifier

from tests.unit.attacks.conftest import IMAGENET_MEAN, IMAGENET_STD, random_images, tiny_network

EPSILONS = [0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255]


@pytest.fixture(scope="module")
def model() -> Classifier:
    return Classifier(tiny_network(seed=3), IMAGENET_MEAN, IMAGENET_STD).eval()


@pytest.mark.parametrize("name", ["fgsm", "bim"])
def test_curve_matches_accuracy_on_torchattacks_images(name: str, model: Classifier) -> None:
    images = random_images(8, 16, seed=2)
    # Half the labels are the model's own predictions and half are wrong, so the curve starts at
    # 0.5 and has room to fall.
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    labels = torch.where(torch.arange(8) % 2 == 0, predicted, (predicted + 1) % 10)
    curve = accuracy_under_attack(model, images, labels, ATTACKS[name].function, EPSILONS)
    expected = []
    for eps in EPSILONS:
        attack = (
            torchattacks.FGSM(model, eps=eps)
            if name == "fgsm"
            else torchattacks.BIM(model, eps=eps, alpha=2 / 255, steps=10)
        )
        adversarial = attack(images, labels)
        with torch.no_grad():
            correct = model(adversarial).argmax(dim=1) == labels
        expected.append(float(correct.float().mean()))
    assert curve == pytest.approx(expected)
    assert curve[0] == 0.5
    assert curve[-1] < curve[0]


def test_no_epsilons_give_an_empty_curve(model: Classifier) -> None:
    images = random_images(2, 16)
    assert (
        accuracy_under_attack(
            model, images, torch.zeros(2, dtype=torch.long), ATTACKS["fgsm"].function, []
        )
        == []
    )
