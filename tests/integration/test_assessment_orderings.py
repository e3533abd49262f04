"""The metrics tell methods apart on the trained demo model the way the literature says they do.

Orderings, not numbers (the numbers are in the README): cascading randomisation (Adebayo et al.
2018) destroys vanilla-gradient and Grad-CAM maps while guided backpropagation's survive most of
the cascade; deleting the pixels Grad-CAM ranks highest lowers the class probability faster than
deleting them at random, and far faster than deleting them in Grad-CAM's reverse order.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from saliency_client import SaliencyClient
from saliency_service.assessment import METRICS
from saliency_service.assessment.base import ForwardMetric
from saliency_service.assessment.running import forward_metric
from saliency_service.demo.shapes import generate
from saliency_service.params import resolve_params

from tests.integration.oracles import demo_classifier

pytestmark = pytest.mark.integration
MODEL = "shapes"
# Seeds the training script never uses, so these images are fresh.
RANDOMISATION_SEED, DELETION_SEED = 90_013, 90_014


def test_cascading_randomisation_spares_guided_backprop_not_gradients_or_grad_cam(
    grpc_target: str,
) -> None:
    batch = generate(12, seed=RANDOMISATION_SEED)
    with SaliencyClient(grpc_target, timeout=600) as client:
        report = client.assess(
            list(batch.images), model=MODEL,
            methods=["vanilla_gradient", "grad_cam", "guided_backprop"],
            metrics=["model_randomisation"], targets=[int(t) for t in batch.labels],
        )
    similarity = {m.method: m.metric("model_randomisation") for m in report.methods}
    mean = {name: result.mean for name, result in similarity.items()}
    assert mean["guided_backprop"] > mean["vanilla_gradient"] + 0.15
    assert mean["guided_backprop"] > mean["grad_cam"] + 0.15
    # Towards zero once the top of the network is random (the last checkpoints randomise the
    # first convolutions, which change every method's map).
    halfway = len(similarity["grad_cam"].mean_curve) // 2
    assert similarity["grad_cam"].mean_curve[halfway] < 0.3
    assert similarity["vanilla_gradient"].mean_curve[halfway] < 0.6
    assert similarity["guided_backprop"].mean_curve[halfway] > 0.6


def test_grad_cam_deletes_faster_than_a_random_and_an_inverted_map(grpc_target: str) -> None:
    batch = generate(16, seed=DELETION_SEED)
    targets = [int(t) for t in batch.labels]
    with SaliencyClient(grpc_target, timeout=600) as client:
        report = client.assess(list(batch.images), model=MODEL, methods=["grad_cam"],
                               metrics={"deletion": {"steps": 12}}, targets=targets)
        explained = client.explain(list(batch.images), model=MODEL, method="grad_cam",
                                   targets=targets)
    model = demo_classifier()
    images = torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 255
    grad_cam = torch.from_numpy(np.stack([r.heatmap for r in explained]))
    random = torch.rand(grad_cam.shape, generator=torch.Generator().manual_seed(0))
    spec = METRICS["deletion"]
    assert isinstance(spec, ForwardMetric)
    params = resolve_params("deletion", spec.params, {"steps": 12})

    def area(maps: torch.Tensor) -> float:
        return float(forward_metric(spec, model, images, maps, torch.tensor(targets),
                                    params).values.mean())

    service = report.method("grad_cam").metric("deletion").mean
    assert service == pytest.approx(area(grad_cam), rel=1e-4)
    assert service < area(random) < area(-grad_cam)
