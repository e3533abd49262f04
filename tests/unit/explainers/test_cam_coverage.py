"""Every CAM, attention and class-model method on torchvision architectures (random weights):
a finite, non-constant map of the input's size, or our error with a reason. The expected table
is the support matrix: a change in support fails here.

Costs on a CPU: vit_b_16 runs at 64 x 64 (its twelve 768-wide layers over a 4 x 4 grid; torchvision
builds it for any size without weights), plus one 224 x 224 image for Grad-CAM and rollout.
Score-CAM costs one forward pass per channel, so it runs on layers with few channels (resnet18's
`layer1`, mobilenet_v3_small's `features.1`) and not on the transformers; its capture path is the
one the other methods exercise here. One image each.
"""

from __future__ import annotations

import pytest
import torch
from saliency_service.errors import SaliencyError, UnsupportedMethod
from saliency_service.explainers import EXPLAINERS

from tests.unit.explainers.cam_fixtures import (
    CAM_METHODS,
    default_layer,
    images,
    torchvision_classifier,
)

OK = "ok"
U = UnsupportedMethod
SIZES = {
    "resnet18": 64,
    "mobilenet_v3_small": 64,
    "convnext_tiny": 64,
    "swin_t": 64,
    "vit_b_16": 64,
}
METHODS = (*CAM_METHODS, "attention", "attention_rollout", "class_model_visualization")
SUPPORT: dict[str, dict[str, type[SaliencyError]]] = {
    "resnet18": {"attention": U, "attention_rollout": U},
    "mobilenet_v3_small": {"cam": U, "attention": U, "attention_rollout": U},
    "convnext_tiny": {"cam": U, "guided_grad_cam": U, "attention": U, "attention_rollout": U},
    "swin_t": {"guided_grad_cam": U, "attention": U, "attention_rollout": U},
    "vit_b_16": {"cam": U, "guided_grad_cam": U},
}
SKIPPED = {(a, "score_cam") for a in ("convnext_tiny", "swin_t", "vit_b_16")}
LAYERS = {("resnet18", "score_cam"): "layer1", ("mobilenet_v3_small", "score_cam"): "features.1"}
OPTIONS: dict[str, dict[str, object]] = {"class_model_visualization": {"steps": 2}}
CASES = [(a, SIZES[a], m) for a in SIZES for m in METHODS if (a, m) not in SKIPPED]
CASES += [("vit_b_16", 224, "grad_cam"), ("vit_b_16", 224, "attention_rollout")]


def _image_size(architecture: str, size: int) -> int | None:
    return size if architecture == "vit_b_16" else None


@pytest.mark.parametrize(
    ("architecture", "size", "method"), CASES, ids=[f"{a}-{s}-{m}" for a, s, m in CASES]
)
def test_method_runs_or_says_why_not(architecture: str, size: int, method: str) -> None:
    model = torchvision_classifier(architecture, _image_size(architecture, size))
    x = images(1, size)
    with torch.no_grad():
        targets = model(x).argmax(dim=1)  # the server's default: the predicted class
    options = dict(OPTIONS.get(method, {}))
    if any(p.kind == "layer" for p in EXPLAINERS[method].params):
        name = LAYERS.get((architecture, method)) or default_layer(architecture, size)
        assert name is not None
        options["layer"] = model.layer(name)
    expected = SUPPORT[architecture].get(method)
    if expected is not None:
        with pytest.raises(expected) as raised:
            EXPLAINERS[method].function(model, x, targets, **options)
        assert len(str(raised.value)) > 20, "the error must say why"
        return
    heatmap = EXPLAINERS[method].function(model, x, targets, **options).heatmap
    assert heatmap.shape == (1, size, size)
    assert bool(torch.isfinite(heatmap).all())
    assert bool((heatmap.flatten(1).amax(dim=1) > heatmap.flatten(1).amin(dim=1)).all())
