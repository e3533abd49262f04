"""SAT's saliency from a teacher model, through the project's own batched explainers.

The slides' second table trains SAT with saliency maps from SmoothGrad, guided backpropagation,
guided Grad-CAM++ and Integrated Gradients, computed by a teacher (a standard or an
adversarially trained network) for the true class of each training image, and reports that
better maps give more robust students. Every explainer of the registry with per-pixel,
per-channel attributions can serve (thresholded at 0); `guided_grad_cam_plus_plus` is guided
backpropagation times the upsampled Grad-CAM++ map, the paper's "G.G.CAM++". A map is computed
once per training image before training, as the paper's fixed saliency maps are.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from saliency_service.explainers import EXPLAINERS
from saliency_service.explainers.base import Explanation
from saliency_service.models.classifier import Classifier
from saliency_service.models.layers import default_cam_layer
from saliency_service.params import ParamValue, resolve_params
from saliency_service.training.data import LabelledImages, in_order
from saliency_service.training.perturbations import saliency_signs

GUIDED_GRAD_CAM_PLUS_PLUS = "guided_grad_cam_plus_plus"
# Cheaper than the explainers' interactive defaults, which serve one image at a time.
TEACHER_DEFAULTS: dict[str, dict[str, ParamValue]] = {
    "smoothgrad": {"samples": 16},
    "integrated_gradients": {"steps": 16},
}


def teacher_methods() -> tuple[str, ...]:
    """The explainers whose attributions can be a SAT saliency map, and G.G.CAM++."""
    own = tuple(name for name, spec in EXPLAINERS.items() if spec.attributions)
    return (*own, GUIDED_GRAD_CAM_PLUS_PLUS)


def teacher_saliency(teacher: Classifier, images: LabelledImages, method: str,
                     params: Mapping[str, ParamValue] | None = None, batch_size: int = 64,
                     layer: str | None = None) -> Tensor:
    """The teacher's map of the true class for every image, thresholded to ±1 (SAT's s).

    Args:
        teacher: the model whose maps teach, on the device it runs on.
        images: the training images, in their index order.
        method: one of `teacher_methods()`.
        params: the explainer's parameters (checked as a request's are).
        layer: the Grad-CAM++ layer (default: the teacher's last convolutional block).

    Raises:
        ValueError: an unknown method; InvalidRequest: a bad parameter.

    Shape:
        returns (N, C, H, W) int8 in {−1, 1}, on the CPU.
    """
    if method not in teacher_methods():
        raise ValueError(f"teacher method {method!r} has no attributions; use one of "
                         f"{', '.join(teacher_methods())}")
    device = next(teacher.buffers()).device
    teacher.eval()
    maps = []
    for batch in in_order(images, batch_size):
        pixels, labels = batch.images.to(device), batch.labels.to(device)
        attributions = _attributions(teacher, pixels, labels, method, dict(params or {}), layer)
        maps.append(saliency_signs(attributions).cpu())
    return torch.cat(maps)


def _attributions(teacher: Classifier, images: Tensor, labels: Tensor, method: str,
                  params: dict[str, ParamValue], layer: str | None) -> Tensor:
    if method == GUIDED_GRAD_CAM_PLUS_PLUS:
        guided = _explain(teacher, images, labels, "guided_backprop", params, layer).attributions
        cam = _explain(teacher, images, labels, "grad_cam_plus_plus", {}, layer).heatmap
        assert guided is not None
        return guided * cam[:, None]
    attributions = _explain(teacher, images, labels, method, params, layer).attributions
    assert attributions is not None  # teacher_methods() keeps those that have them
    return attributions


def _explain(teacher: Classifier, images: Tensor, labels: Tensor, method: str,
             params: dict[str, ParamValue], layer: str | None) -> Explanation:
    spec = EXPLAINERS[method]
    resolved: dict[str, object] = dict(
        resolve_params(method, spec.params, {**TEACHER_DEFAULTS.get(method, {}), **params})
    )
    for param in spec.params:
        if param.kind == "layer":
            name = layer or default_cam_layer(teacher.network, _shape(images))
            if name is None:
                raise ValueError(f"{method}: the teacher has no layer for CAM methods")
            resolved[param.name] = teacher.layer(name)
    return spec.function(teacher, images, labels, **resolved)


def _shape(images: Tensor) -> tuple[int, int, int]:
    _, channels, height, width = images.shape
    return channels, height, width
