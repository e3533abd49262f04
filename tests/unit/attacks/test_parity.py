"""Parity with torchattacks 3.5.1 (a test-only oracle) on seeded models.

Every compared attack is deterministic, so the adversarial images themselves must agree. Our
losses are summed where torchattacks averages over N = 4 images, a power of two, so the
gradients are the same bits scaled by 1/4 and sign() cannot flip; what differences remain are
float rounding (measured ≤ 2e-7).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torchattacks
from saliency_service.models.classifier import Classifier
from torch import Tensor, nn

from tests.unit.attacks.conftest import predictions, random_images, run_attack

TOLERANCE = 1e-5
EPS = 8 / 255

# name -> (our overrides, the torchattacks attack built with the same settings)
UNTARGETED: dict[str, tuple[dict[str, Any], Callable[[nn.Module], torchattacks.Attack]]] = {
    "fgsm": ({"eps": EPS}, lambda m: torchattacks.FGSM(m, eps=EPS)),
    "bim": ({"steps": 4}, lambda m: torchattacks.BIM(m, eps=EPS, alpha=2 / 255, steps=4)),
    "bim-kurakin-steps": (
        {"steps": 0, "eps": 4 / 255},
        lambda m: torchattacks.BIM(m, eps=4 / 255, alpha=2 / 255, steps=0),
    ),
    "pgd": (
        {"steps": 4, "random_start": False},
        lambda m: torchattacks.PGD(m, eps=EPS, alpha=2 / 255, steps=4, random_start=False),
    ),
    "pgd_l2": (
        {"steps": 4, "random_start": False, "eps": 0.5, "alpha": 0.1},
        lambda m: torchattacks.PGDL2(m, eps=0.5, alpha=0.1, steps=4, random_start=False),
    ),
    "mi_fgsm": (
        {"steps": 4, "decay": 0.9},
        lambda m: torchattacks.MIFGSM(m, eps=EPS, alpha=2 / 255, steps=4, decay=0.9),
    ),
    "deepfool": (
        {"steps": 50, "overshoot": 0.02, "candidates": 10},
        lambda m: torchattacks.DeepFool(m, steps=50, overshoot=0.02),
    ),
}


@pytest.fixture(scope="module")
def batch(resnet: Classifier) -> tuple[Tensor, Tensor]:
    images = random_images(4, 32)
    return images, predictions(resnet, images)


@pytest.mark.parametrize("case", sorted(UNTARGETED))
def test_untargeted_matches_torchattacks(
    case: str, resnet: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    overrides, oracle = UNTARGETED[case]
    ours = run_attack(case.split("-")[0], resnet, images, labels, **overrides).adversarial
    theirs = oracle(resnet)(images, labels)
    assert (ours - theirs).abs().max() <= TOLERANCE
    assert not torch.equal(ours, images), "the attack moved nothing, so parity proves nothing"


# Settings where the projection onto the ε-ball binds: steps × α is three times ε, so an
# unprojected perturbation would leave the ball; each must still match torchattacks.
BINDING: dict[str, tuple[dict[str, Any], Callable[[nn.Module], torchattacks.Attack], str]] = {
    "pgd": (
        {"eps": 4 / 255, "alpha": 2 / 255, "steps": 6, "random_start": False},
        lambda m: torchattacks.PGD(m, eps=4 / 255, alpha=2 / 255, steps=6, random_start=False),
        "linf",
    ),
    "pgd_l2": (
        {"eps": 0.2, "alpha": 0.1, "steps": 6, "random_start": False},
        lambda m: torchattacks.PGDL2(m, eps=0.2, alpha=0.1, steps=6, random_start=False),
        "l2",
    ),
    "mi_fgsm": (
        {"eps": 4 / 255, "alpha": 2 / 255, "steps": 6, "decay": 1.0},
        lambda m: torchattacks.MIFGSM(m, eps=4 / 255, alpha=2 / 255, steps=6, decay=1.0),
        "linf",
    ),
}


@pytest.mark.parametrize("name", sorted(BINDING))
def test_matches_torchattacks_where_the_projection_binds(
    name: str, resnet: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    images, labels = batch
    overrides, oracle, norm = BINDING[name]
    eps = overrides["eps"]
    assert overrides["steps"] * overrides["alpha"] >= 3 * eps
    ours = run_attack(name, resnet, images, labels, **overrides).adversarial
    theirs = oracle(resnet)(images, labels)
    assert (ours - theirs).abs().max() <= TOLERANCE
    delta = (ours - images).flatten(1)
    if norm == "linf":
        assert bool((delta.abs().amax(dim=1) <= eps + 1e-6).all())
        clipped = (delta.abs() >= eps - 1e-6).float().mean(dim=1)
        assert bool((clipped > 0.5).all()), "the projection must hold most pixels at ±ε"
    else:
        norms = delta.norm(dim=1)  # on the sphere, less what clipping to [0, 1] took off
        assert bool((norms <= eps * (1 + 1e-5)).all())
        assert bool((norms >= 0.99 * eps).all()), "the projection must hold δ on the sphere"


class ShiftedLogits(nn.Module):
    """The model with every logit raised by 100: softmax, argmax and the CW margin unchanged.

    torchattacks' CW reads logits through a 0/1 mask multiplied in, so a negative logit (or all
    negative rivals) reads as 0; with every logit positive its margin equals the paper's.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return self.model(images) + 100.0


def test_cw_matches_torchattacks_run_image_by_image(
    resnet: Classifier, batch: tuple[Tensor, Tensor]
) -> None:
    # torchattacks stops a whole batch when its summed cost rises; ours stops each image on its
    # own cost, which is torchattacks' behaviour for a batch of one.
    images, labels = batch
    model = ShiftedLogits(resnet).eval()
    ours = run_attack("cw_l2", model, images, labels, c=1.0, kappa=0.0, steps=50, lr=0.01)
    attack = torchattacks.CW(model, c=1.0, kappa=0.0, steps=50, lr=0.01)
    theirs = torch.cat([attack(images[i : i + 1], labels[i : i + 1]) for i in range(len(images))])
    assert (ours.adversarial - theirs).abs().max() <= TOLERANCE
    flipped = predictions(resnet, ours.adversarial) != labels
    assert torch.equal(flipped, predictions(resnet, theirs) != labels)
    assert flipped.any()


@pytest.mark.parametrize(
    ("name", "overrides", "oracle"),
    [
        ("fgsm", {"eps": 0.1}, lambda m: torchattacks.FGSM(m, eps=0.1)),
        ("bim", {"eps": 0.1, "steps": 4}, lambda m: torchattacks.BIM(m, eps=0.1, steps=4)),
        ("mi_fgsm", {"eps": 0.1, "steps": 4}, lambda m: torchattacks.MIFGSM(m, eps=0.1, steps=4)),
    ],
)
def test_targeted_matches_torchattacks(
    name: str,
    overrides: dict[str, Any],
    oracle: Callable[[nn.Module], torchattacks.Attack],
    tiny: Classifier,
) -> None:
    images = random_images(4, 16)
    labels = predictions(tiny, images)
    targets = (labels + 3) % 10
    ours = run_attack(name, tiny, images, labels, targets=targets, **overrides).adversarial
    attack = oracle(tiny)
    attack.set_mode_targeted_by_function(lambda _images, _labels: targets)
    assert (ours - attack(images, labels)).abs().max() <= TOLERANCE
