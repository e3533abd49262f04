"""The one place CAM methods hook a layer: values, gradients, layouts, clean-up and refusals."""

from __future__ import annotations

import pytest
import torch
from saliency_service.errors import InvalidRequest
from saliency_service.explainers._layer_capture import capture_activations, capture_gradients
from saliency_service.models.feature_maps import as_feature_map, layer_recorder
from torch import Tensor, nn

from tests.unit.explainers.cam_fixtures import hook_count, images, resnet18_classifier, tiny_vit
from tests.unit.explainers.support import max_rel_diff

TARGETS = torch.tensor([1, 5, 7])


def test_gradients_are_the_heads_closed_form() -> None:
    # resnet18 ends in GAP + fc, so ∂y_c/∂A^k_ij = W[c, k] / (h·w) at every position.
    model, x = resnet18_classifier(), images(3, 64)
    activations, gradients = capture_gradients(model, model.layer("layer4"), x, TARGETS)
    weights = model.network.fc.weight[TARGETS].detach()
    expected = (weights / 4)[:, :, None, None].expand_as(gradients)
    assert activations.shape == (3, 512, 2, 2)
    assert max_rel_diff(gradients, expected) <= 1e-6


def test_activations_are_the_layers_output_before_in_place_ops_after_it() -> None:
    # bn2's output is modified in place by `out += identity` and an in-place ReLU afterwards.
    model, x = resnet18_classifier(), images(3, 64)
    block = model.network.layer4[1]
    seen: dict[str, Tensor] = {}
    handle = block.register_forward_pre_hook(lambda _, args: seen.setdefault("in", args[0].clone()))
    try:
        activations, _ = capture_activations(model, block.bn2, x, TARGETS)
    finally:
        handle.remove()
    with torch.no_grad():
        expected = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(seen["in"])))))
    assert max_rel_diff(activations, expected) <= 1e-6
    assert bool((activations < 0).any()), "pre-ReLU values survived"


def test_outputs_unchanged_hooks_removed_no_weight_gradients_input_untouched() -> None:
    model, x = resnet18_classifier(), images(3, 64)
    before = x.clone()
    with torch.no_grad():
        expected = model(x)
    with layer_recorder(model.layer("layer3")) as recording, torch.no_grad():
        logits = model(x)
    assert torch.equal(logits, expected)
    assert recording.calls == 1
    capture_gradients(model, model.layer("layer3"), x, TARGETS)
    assert hook_count(model) == 0
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(x, before)


def test_hooks_are_removed_when_the_forward_pass_fails() -> None:
    model = resnet18_classifier()
    with pytest.raises(RuntimeError):
        capture_gradients(model, model.layer("layer3"), torch.zeros(1, 5, 64, 64), TARGETS[:1])
    assert hook_count(model) == 0


def test_frozen_weights_give_the_same_gradients() -> None:
    model, x = resnet18_classifier(), images(2, 64)
    layer = model.layer("layer3")
    expected = capture_gradients(model, layer, x, TARGETS[:2])
    model.requires_grad_(False)
    try:
        frozen = capture_gradients(model, layer, x, TARGETS[:2])
    finally:
        model.requires_grad_(True)
    assert torch.equal(frozen[0], expected[0])
    assert max_rel_diff(frozen[1], expected[1]) <= 1e-6


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("layer4.1.relu", "ran 2 times"),
        ("fc", "not a feature map"),
    ],
)
def test_layers_cam_cannot_use_are_refused_with_a_reason(name: str, message: str) -> None:
    model = resnet18_classifier()
    with pytest.raises(InvalidRequest, match=message):
        capture_gradients(model, model.layer(name), images(1, 64), TARGETS[:1])
    assert hook_count(model) == 0


def test_tuple_outputs_foreign_layers_and_bad_targets_are_refused() -> None:
    vit = tiny_vit()
    with pytest.raises(InvalidRequest, match="returns a tuple"):
        capture_activations(vit, vit.layer("encoder.layers.encoder_layer_0.self_attention"),
                            images(1, 32), TARGETS[:1])  # fmt: skip
    model = resnet18_classifier()
    torch.manual_seed(0)
    with pytest.raises(InvalidRequest, match="not part of the model"):
        capture_gradients(model, nn.Conv2d(3, 3, 1), images(1, 64), TARGETS[:1])
    with pytest.raises(InvalidRequest, match=r"class indices in \[0, 10\); got \[10\]"):
        capture_gradients(model, model.layer("layer4"), images(2, 64), torch.tensor([1, 10]))


def test_vit_tokens_become_a_grid_without_the_class_token() -> None:
    vit = tiny_vit()
    layer = vit.layer("encoder.layers.encoder_layer_1.ln_1")
    seen: dict[str, Tensor] = {}
    handle = layer.register_forward_hook(lambda *a: seen.setdefault("out", a[2].detach().clone()))
    try:
        activations, gradients = capture_gradients(vit, layer, images(2, 32), TARGETS[:2])
    finally:
        handle.remove()
    tokens = seen["out"]
    assert tokens.shape == (2, 17, 16)
    assert activations.shape == gradients.shape == (2, 16, 4, 4)
    # Patch (row 1, column 2) of the 4 x 4 grid is token 1 + 4·1 + 2.
    assert torch.equal(activations[:, :, 1, 2], tokens[:, 1 + 4 * 1 + 2])
    assert bool(gradients.abs().amax() > 0)


def test_layouts() -> None:
    torch.manual_seed(0)
    nhwc = torch.rand(2, 7, 7, 96)
    assert torch.equal(as_feature_map(nhwc, (224, 224)), nhwc.permute(0, 3, 1, 2))  # type: ignore[arg-type]
    nchw = torch.rand(2, 64, 16, 16)
    assert as_feature_map(nchw, (64, 64)) is nchw
    ambiguous = torch.rand(2, 8, 8, 8)
    assert as_feature_map(ambiguous, (64, 64)) is ambiguous, "channels-first wins ties"
    non_square = torch.rand(2, 4, 6, 32)
    assert as_feature_map(non_square, (64, 96)).shape == (2, 32, 4, 6)  # type: ignore[union-attr]
    assert as_feature_map(torch.rand(2, 49, 8), (224, 224)).shape == (2, 8, 7, 7)  # type: ignore[union-attr]
    no_grid = torch.rand(2, 35, 8)  # no square number of patches after up to 8 prefix tokens
    assert as_feature_map(no_grid, (224, 224)) is None
    assert as_feature_map(torch.rand(2, 10), (224, 224)) is None
