"""Class model visualisation: the class score goes up, pixels stay valid, λ pulls towards grey."""

from __future__ import annotations

import torch
from saliency_service.explainers.class_model import class_model_visualization
from saliency_service.explainers.gradients import vanilla_gradient

from tests.unit.explainers.cam_fixtures import images, resnet18_classifier
from tests.unit.explainers.support import max_rel_diff

TARGETS = torch.tensor([1, 5, 7])


def test_the_class_score_increases_and_is_reported_truthfully() -> None:
    model, x = resnet18_classifier(), images(3, 32)
    result = class_model_visualization(model, x, TARGETS, steps=5)
    initial, final = result.diagnostics["initial_score"], result.diagnostics["final_score"]
    assert bool((final > initial).all())
    assert result.image is not None
    with torch.no_grad():
        grey = model(torch.full_like(x, 0.5)).gather(1, TARGETS[:, None])[:, 0]
        reached = model(result.image).gather(1, TARGETS[:, None])[:, 0]
    assert max_rel_diff(initial, grey) <= 1e-6
    assert max_rel_diff(final, reached) <= 1e-6


def test_pixels_stay_valid_and_the_heatmap_is_the_distance_from_grey() -> None:
    model, x = resnet18_classifier(), images(3, 32)
    before = x.clone()
    result = class_model_visualization(model, x, TARGETS, steps=5, learning_rate=0.3)
    assert result.image is not None
    assert result.image.shape == x.shape
    assert float(result.image.min()) >= 0.0
    assert float(result.image.max()) <= 1.0
    assert float(result.image.min()) == 0.0, "large steps reach the bounds and are clipped"
    assert torch.equal(result.heatmap, (result.image - 0.5).abs().amax(dim=1))
    assert torch.equal(x, before)


def test_the_first_step_follows_the_gradient_and_moves_at_most_the_learning_rate() -> None:
    model, x = resnet18_classifier(), images(3, 32)
    result = class_model_visualization(model, x, TARGETS, steps=1, learning_rate=0.01, l2=0.0)
    assert result.image is not None
    step = result.image - 0.5
    gradient = vanilla_gradient(model, torch.full_like(x, 0.5), TARGETS).attributions
    assert gradient is not None
    expected = 0.01 * gradient / gradient.abs().amax(dim=(1, 2, 3), keepdim=True)
    assert max_rel_diff(step, expected) <= 1e-4


def test_a_stronger_penalty_keeps_the_image_closer_to_grey() -> None:
    model, x = resnet18_classifier(), images(2, 32)
    free = class_model_visualization(model, x, TARGETS[:2], steps=8, l2=0.0).image
    held = class_model_visualization(model, x, TARGETS[:2], steps=8, l2=100.0).image
    assert free is not None
    assert held is not None
    assert bool(((held - 0.5).flatten(1).norm(dim=1) < (free - 0.5).flatten(1).norm(dim=1)).all())


def test_batch_equals_one_image_at_a_time() -> None:
    model, x = resnet18_classifier(), images(2, 32)
    batch = class_model_visualization(model, x, TARGETS[:2], steps=2)
    assert batch.image is not None
    for i in range(len(x)):
        single = class_model_visualization(model, x[i : i + 1], TARGETS[i : i + 1], steps=2)
        assert single.image is not None
        assert max_rel_diff(batch.image[i : i + 1], single.image) <= 1e-5


def test_a_score_flat_at_grey_still_climbs() -> None:
    # Every unit at its ReLU kink at exact grey: the gradient there is zero (torch's ReLU'(0) = 0).
    torch.manual_seed(0)
    weights = torch.randn(4, 3 * 8 * 8)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), _Shift(-0.5), torch.nn.ReLU(), torch.nn.Linear(3 * 8 * 8, 4, bias=False)
    ).eval()
    model[3].weight.data = weights
    x, targets = torch.zeros(2, 3, 8, 8), torch.tensor([0, 3])
    at_grey, _ = vanilla_gradient(model, torch.full_like(x, 0.5), targets).heatmap, None
    assert float(at_grey.abs().max()) == 0.0, "the case this test is about"
    result = class_model_visualization(model, x, targets, steps=10)
    assert bool((result.diagnostics["final_score"] > result.diagnostics["initial_score"]).all())
    alone = class_model_visualization(model, x[1:], targets[1:], steps=10)
    assert torch.equal(alone.image, result.image[1:])  # type: ignore[index]


class _Shift(torch.nn.Module):
    def __init__(self, by: float) -> None:
        super().__init__()
        self.by = by

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.by
