"""Occlusion against Captum, and against a window-by-window loop where Captum leaves edges out."""

from __future__ import annotations

import pytest
import torch
from captum.attr import Occlusion
from saliency_service.explainers.occlusion import occlusion, window_starts
from saliency_service.models.classifier import Classifier
from torch import Tensor

from tests.unit.explainers.support import TOLERANCE, max_rel_diff


@pytest.mark.parametrize(("window", "stride", "value"), [(16, 8, 0.0), (8, 6, 0.5)])
def test_matches_captum_when_strides_tile_the_image(
    resnet: Classifier, images: Tensor, targets: Tensor, window: int, stride: int, value: float
) -> None:
    ours = occlusion(resnet, images, targets, window=window, stride=stride, baseline_value=value)
    expected = Occlusion(resnet).attribute(
        images,
        sliding_window_shapes=(3, window, window),
        strides=(3, stride, stride),
        baselines=value,
        target=targets,
    )
    # Captum occludes all channels at once here, so its three channels carry the same map.
    assert torch.equal(expected[:, 0], expected[:, 2])
    assert ours.attributions is None
    assert max_rel_diff(ours.heatmap, expected[:, 0]) <= TOLERANCE


def test_edge_windows_match_a_window_by_window_loop(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    # 32 − 12 is no multiple of 8: Captum would stop at offset 16 and leave 4 columns out.
    window, stride = 12, 8
    assert window_starts(32, window, stride) == [0, 8, 16, 20]
    ours = occlusion(resnet, images, targets, window=window, stride=stride, chunk_size=5)
    with torch.no_grad():
        score = resnet(images).gather(1, targets[:, None])[:, 0]
        total = torch.zeros(3, 32, 32)
        count = torch.zeros(32, 32)
        for top in (0, 8, 16, 20):
            for left in (0, 8, 16, 20):
                blanked = images.clone()
                blanked[:, :, top : top + window, left : left + window] = 0.0
                drop = score - resnet(blanked).gather(1, targets[:, None])[:, 0]
                total[:, top : top + window, left : left + window] += drop[:, None, None]
                count[top : top + window, left : left + window] += 1
    assert max_rel_diff(ours.heatmap, total / count) <= TOLERANCE


def test_a_window_wider_than_the_image_is_clipped() -> None:
    assert window_starts(10, 16, 4) == [0]
    assert window_starts(10, 10, 3) == [0]
