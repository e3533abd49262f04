"""The demo model's explanations and attacks mean something, measured through the service."""

from __future__ import annotations

import numpy as np
import pytest
from saliency_client import SaliencyClient
from saliency_service.demo.shapes import generate

pytestmark = pytest.mark.integration
# Seeds the training script never uses, so these images are fresh.
POINTING_SEED, ATTACK_SEED = 90_001, 90_002


def test_grad_cam_points_inside_the_object(grpc_target: str) -> None:
    batch = generate(240, seed=POINTING_SEED)
    hits = 0
    with SaliencyClient(grpc_target) as client:
        for start in range(0, len(batch.images), 60):
            images = list(batch.images[start:start + 60])
            labels = [int(c) for c in batch.labels[start:start + 60]]
            results = client.explain(images, model="shapes", method="grad_cam", targets=labels)
            for offset, result in enumerate(results):
                heatmap = result.explanations[0].heatmap
                y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
                hits += bool(batch.masks[start + offset][y, x])
    assert hits / len(batch.images) >= 0.90


def test_pgd_flips_predictions_confirmed_by_onnx_runtime(grpc_target: str) -> None:
    batch = generate(120, seed=ATTACK_SEED)
    with SaliencyClient(grpc_target) as client:
        results = client.attack(list(batch.images), model="shapes", method="pgd", eps=8 / 255,
                                steps=10, seed=1)
    flipped = [r for r in results if r.success]
    assert len(flipped) / len(results) >= 0.90
    for result in flipped:
        assert result.label_after_onnx != result.label_before
        assert result.linf <= 8 / 255 + 1e-6
