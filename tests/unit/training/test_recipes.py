"""The training recipes against independent formulas on small problems (issue 11).

Oracles: the project's PGD iteration (PGD-AT's inner attack must be it), FGSM with a random
start written out from Wong et al.'s Algorithm, TRADES' loss with torch's own KLDivLoss as the
authors' code computes it, the SAT rule's probabilities (a binomial test), and masks and boxes
as ±1 maps counted by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from saliency_service.attacks.pgd import pgd, pgd_from
from saliency_service.models.classifier import Classifier
from saliency_service.models.tiny_cnn import TinyCNN
from saliency_service.training.data import Batch
from saliency_service.training.folder import FolderImages
from saliency_service.training.inner import trades_loss
from saliency_service.training.perturbations import boxes_region, sat_direction, weak_saliency
from saliency_service.training.recipes import Recipe
from saliency_service.training.steps import training_examples
from torch import Tensor, nn
from torch.nn import functional as F

from tests.unit.training.toy import EPS, toy


@pytest.fixture(scope="module")
def model() -> Classifier:
    torch.manual_seed(0)
    return Classifier(TinyCNN(2), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()


@pytest.fixture(scope="module")
def batch() -> Batch:
    data = toy(12, seed=5)
    samples = [data[i] for i in range(len(data))]
    saliency = torch.stack([s.saliency for s in samples if s.saliency is not None])
    return Batch(torch.stack([s.image for s in samples]),
                 torch.tensor([s.label for s in samples]), saliency)


def uniform_start(images: Tensor, eps: float, generator: torch.Generator) -> Tensor:
    return (images + eps * (2 * torch.rand(images.shape, generator=generator) - 1)).clamp(0, 1)


def test_pgd_at_trains_on_the_projects_pgd_from_madrys_start(model: Classifier,
                                                             batch: Batch) -> None:
    recipe = Recipe("pgd", eps=EPS, steps=4).resolved()
    examples = training_examples(model, recipe, batch, 1, torch.Generator().manual_seed(7))
    start = uniform_start(batch.images, EPS, torch.Generator().manual_seed(7))
    budget = torch.full((len(start),), EPS)
    expected = pgd_from(model, batch.images, batch.labels, targets=None, start=start,
                        eps=budget, alpha=recipe.step_size, steps=4)
    assert torch.equal(examples, expected)
    # pgd_from is the registered attack's iteration: from the clean image it is `pgd` itself.
    registered = pgd(model, batch.images, batch.labels, targets=None, eps=budget,
                     alpha=recipe.step_size, steps=4, random_start=False).adversarial
    assert torch.equal(pgd_from(model, batch.images, batch.labels, targets=None,
                                start=batch.images, eps=budget, alpha=recipe.step_size,
                                steps=4), registered)
    assert (examples - batch.images).abs().max() <= EPS + 1e-6
    assert not torch.equal(examples, start)


def test_fgsm_with_a_random_start_is_one_step_of_one_and_a_quarter_eps(
    model: Classifier, batch: Batch
) -> None:
    recipe = Recipe("fgsm_rs", eps=EPS).resolved()
    examples = training_examples(model, recipe, batch, 1, torch.Generator().manual_seed(3))
    # Wong, Rice and Kolter 2020, Algorithm 3: δ ~ U(−ε, ε); δ += α·sign(∇ℓ); δ = clip(δ, ±ε).
    start = uniform_start(batch.images, EPS, torch.Generator().manual_seed(3))
    leaf = start.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(F.cross_entropy(model(leaf), batch.labels,
                                                      reduction="sum"), leaf)
    moved = start + 1.25 * EPS * gradient.sign()
    expected = torch.minimum(torch.maximum(moved, batch.images - EPS), batch.images + EPS)
    assert torch.allclose(examples, expected.clamp(0, 1), atol=1e-6)


def test_trades_loss_is_cross_entropy_plus_beta_batchmean_kl(model: Classifier,
                                                              batch: Batch) -> None:
    torch.manual_seed(1)
    clean = torch.randn(12, 5, requires_grad=True)
    adversarial = torch.randn(12, 5, requires_grad=True)
    labels = torch.randint(0, 5, (12,))
    ours = trades_loss(clean, adversarial, labels, beta=6.0)
    # The authors' code: CE + β · KLDivLoss(sum)(log_softmax(f(x')), softmax(f(x))) / N.
    kl = nn.KLDivLoss(reduction="sum")(F.log_softmax(adversarial, 1), F.softmax(clean, 1))
    direct = nn.CrossEntropyLoss()(clean, labels) + 6.0 * kl / 12
    assert torch.allclose(ours, direct, rtol=1e-6)
    mine = torch.autograd.grad(ours, (clean, adversarial))
    theirs = torch.autograd.grad(direct, (clean, adversarial))
    for a, b in zip(mine, theirs, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_trades_examples_raise_the_kl_inside_the_ball(model: Classifier, batch: Batch) -> None:
    recipe = Recipe("trades", eps=EPS).resolved()
    examples = training_examples(model, recipe, batch, 1, torch.Generator().manual_seed(2))
    assert (examples - batch.images).abs().max() <= EPS + 1e-6
    clean = F.softmax(model(batch.images), 1).detach()

    def kl(x: Tensor) -> float:
        with torch.no_grad():
            return float(F.kl_div(F.log_softmax(model(x), 1), clean, reduction="sum"))

    near = batch.images + 0.001 * torch.randn(batch.images.shape,
                                              generator=torch.Generator().manual_seed(4))
    assert kl(examples) > 10 * kl(near)


@pytest.mark.parametrize("epoch", [1, 2, 4])
def test_sat_direction_follows_the_alpha_schedule(epoch: int) -> None:
    recipe = Recipe("sat", sat_alpha=0.7)
    probability = recipe.sat_probability(epoch)
    assert probability == pytest.approx(0.7**epoch)
    generator = torch.Generator().manual_seed(epoch)
    saliency = torch.where(torch.rand(8, 1, 40, 40, generator=generator) < 0.3, 1, -1)
    delta = sat_direction(saliency.to(torch.int8), probability, generator, channels=3)
    assert set(delta.unique().tolist()) <= {-1.0, 1.0}
    # δ[i] = −s[i] unless a random sign was drawn (prob. αᵗ) and came out +s[i] (prob. ½).
    follows = (delta == -saliency.float()).double()
    count = follows.numel()
    expected = 1 - probability / 2
    z = (float(follows.mean()) - expected) / math.sqrt(expected * (1 - expected) / count)
    assert abs(z) < 5
    # The random signs are fair and independent of the map: same share where s = ±1.
    positive = saliency.expand_as(delta) > 0
    assert abs(float(follows[positive].mean()) - float(follows[~positive].mean())) < 0.03


def test_sat_start_moves_every_pixel_by_eps_against_the_weak_saliency(batch: Batch) -> None:
    recipe = Recipe("sat", eps=EPS, sat_alpha=0.5)
    model = Classifier(TinyCNN(2), (0.5,) * 3, (0.25,) * 3)
    # Epoch 60: αᵗ ≈ 1e-18, so δ = −s: the object darkened, the background brightened.
    examples = training_examples(model, recipe, batch, 60, torch.Generator().manual_seed(0))
    assert batch.saliency is not None
    wanted = (batch.images - EPS * batch.saliency.float()).clamp(0, 1)
    assert torch.allclose(examples, wanted, atol=1e-6)


def test_masks_and_boxes_become_plus_minus_one(tmp_path: Path) -> None:
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[1:3, 2:5] = True
    saliency = weak_saliency(mask)
    assert torch.equal(saliency, (2 * mask.to(torch.int8) - 1))
    region = boxes_region([(1.0, 0.0, 3.0, 2.0), (4.0, 4.0, 6.0, 6.0)], 6, 6)
    assert int(region.sum()) == 2 * 2 + 2 * 2 and bool(region[0, 1]) and not bool(region[0, 3])
    # A folder: one image with a mask beside it, one with boxes; read at twice the size.
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.full((4, 4, 3), 200, np.uint8)).save(tmp_path / name / "x.png")
    mask_pixels = np.zeros((4, 4), np.uint8)
    mask_pixels[:2, :2] = 255
    Image.fromarray(mask_pixels).save(tmp_path / "a" / "x.mask.png")
    (tmp_path / "b" / "x.boxes.json").write_text(json.dumps([[2, 2, 4, 4]]))
    images = FolderImages(tmp_path, size=(8, 8))
    assert images.has_saliency and images.classes == ("a", "b")
    for index, (rows, columns) in enumerate([(slice(0, 4), slice(0, 4)),
                                             (slice(4, 8), slice(4, 8))]):
        maps = images[index].saliency
        assert maps is not None and set(maps.unique().tolist()) == {-1, 1}
        assert bool((maps[0, rows, columns] == 1).all()) and int((maps == 1).sum()) == 16
