"""Shared checks for every pixel-attribution entry of the registry (the CAM family has its own)."""

from __future__ import annotations

import copy
import inspect

import pytest
import torch
from saliency_service.explainers import EXPLAINERS
from saliency_service.explainers.base import Explanation
from saliency_service.models.classifier import Classifier
from saliency_service.params import ParamValue, resolve_params
from torch import Tensor

from tests.unit.explainers.support import max_rel_diff

PIXEL_METHODS = (
    "vanilla_gradient",
    "squared_gradient",
    "input_x_gradient",
    "smoothgrad",
    "smoothgrad_squared",
    "vargrad",
    "integrated_gradients",
    "guided_backprop",
    "deconvnet",
    "deeplift",
    "occlusion",
)
# Keyword arguments that are not request parameters: the engine's chunking, and what the
# registry binds with functools.partial.
NOT_REQUEST_PARAMETERS = {"chunk_size", "mode", "explain", "forward"}
# Fewer noisy copies and path points keep these checks quick; the rest runs at its defaults.
QUICK: dict[str, dict[str, ParamValue]] = {
    "smoothgrad": {"samples": 6},
    "smoothgrad_squared": {"samples": 6},
    "vargrad": {"samples": 6},
    "integrated_gradients": {"steps": 16},
}
BATCH_TOLERANCE = 1e-5


def _run(name: str, model: Classifier, images: Tensor, targets: Tensor) -> Explanation:
    spec = EXPLAINERS[name]
    params = resolve_params(name, spec.params, QUICK.get(name, {}))
    return spec.function(model, images, targets, **params)


@pytest.mark.parametrize("name", PIXEL_METHODS)
def test_batch_equals_image_by_image(
    resnet: Classifier, images: Tensor, targets: Tensor, name: str
) -> None:
    batch = _run(name, resnet, images, targets)
    alone = [_run(name, resnet, images[i : i + 1], targets[i : i + 1]) for i in range(3)]
    assert batch.heatmap.shape == (3, 32, 32)
    assert max_rel_diff(batch.heatmap, torch.cat([a.heatmap for a in alone])) <= BATCH_TOLERANCE
    if batch.attributions is not None:
        each = torch.cat([a.attributions for a in alone if a.attributions is not None])
        assert max_rel_diff(batch.attributions, each) <= BATCH_TOLERANCE
    for key, values in batch.diagnostics.items():
        each = torch.cat([a.diagnostics[key] for a in alone])
        assert torch.allclose(values, each, rtol=1e-3, atol=1e-6), key


@pytest.mark.parametrize("name", PIXEL_METHODS)
def test_leaves_input_model_and_autograd_state_as_found(
    resnet: Classifier, images: Tensor, targets: Tensor, name: str
) -> None:
    model = copy.deepcopy(resnet)  # its parameters require gradients, as a loaded model's may
    before = images.clone()
    _run(name, model, images, targets)
    assert torch.equal(images, before)
    assert not images.requires_grad
    assert all(p.grad is None for p in model.parameters())
    for module in model.modules():
        hooks = (
            module._forward_hooks,
            module._forward_pre_hooks,
            module._backward_hooks,
            module._backward_pre_hooks,
        )
        assert not any(hooks), type(module).__name__
    assert torch._C._len_torch_function_stack() == 0
    assert not model.training


@pytest.mark.parametrize("name", PIXEL_METHODS)
def test_frozen_parameters_give_the_same_result(
    resnet: Classifier, images: Tensor, targets: Tensor, name: str
) -> None:
    frozen = copy.deepcopy(resnet).requires_grad_(False)
    ours = _run(name, frozen, images[:1], targets[:1])
    expected = _run(name, resnet, images[:1], targets[:1])
    assert max_rel_diff(ours.heatmap, expected.heatmap) <= BATCH_TOLERANCE


@pytest.mark.parametrize("name", PIXEL_METHODS)
def test_spec_declares_every_parameter_with_the_functions_default(name: str) -> None:
    spec = EXPLAINERS[name]
    signature = inspect.signature(spec.function).parameters
    keywords = {key for key, p in signature.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords - NOT_REQUEST_PARAMETERS == {p.name for p in spec.params}
    for param in spec.params:
        assert signature[param.name].default == param.default, param.name
        if param.kind in ("number", "integer"):
            assert param.minimum is not None, param.name
            assert param.maximum is not None, param.name
        if param.kind == "text":
            assert param.default in param.choices, param.name
