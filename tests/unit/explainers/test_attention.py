"""Attention maps and rollout against nn.MultiheadAttention's own weights, and their properties.

The oracle: the same `self_attention` module called directly with `need_weights=True` on its
recorded input (torchvision's ViT asks for no weights, so the method recomputes them).
"""

from __future__ import annotations

import pytest
import torch
from saliency_service.errors import InvalidRequest, UnsupportedMethod
from saliency_service.explainers._cam_base import upsample
from saliency_service.explainers.attention import attention, attention_weights
from saliency_service.explainers.attention_rollout import attention_rollout
from saliency_service.models.classifier import Classifier
from torch import Tensor

from tests.unit.explainers.cam_fixtures import hook_count, images, resnet18_classifier, tiny_vit
from tests.unit.explainers.support import max_rel_diff

TARGETS = torch.tensor([0, 4, 9])


def _oracle_weights(model: Classifier, x: Tensor) -> list[Tensor]:
    """Per layer, (N, heads, L, L) from `self_attention(x, x, x, need_weights=True)`."""
    blocks = list(model.network.encoder.layers)
    inputs: list[Tensor] = []
    handles = [b.ln_1.register_forward_hook(lambda *a: inputs.append(a[2])) for b in blocks]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    weights = []
    with torch.no_grad():
        for block, tokens in zip(blocks, inputs, strict=True):
            _, w = block.self_attention(
                tokens, tokens, tokens, need_weights=True, average_attn_weights=False
            )
            weights.append(w)
    return weights


def _class_token_map(matrix: Tensor, size: int) -> Tensor:
    grid = matrix[:, 0, 1:].reshape(len(matrix), 4, 4)
    return upsample(grid, (size, size))


def test_recomputed_weights_are_the_modules_own() -> None:
    model, x = tiny_vit(), images(3, 32)
    ours = attention_weights(model, x)
    expected = _oracle_weights(model, x)
    assert len(ours) == len(expected) == 2
    for mine, theirs in zip(ours, expected, strict=True):
        assert max_rel_diff(mine, theirs) <= 1e-5
        assert float((mine.sum(dim=-1) - 1).abs().max()) <= 1e-6


def test_capture_changes_no_output_and_leaves_no_hook() -> None:
    model, x = tiny_vit(), images(3, 32)
    before = x.clone()
    with torch.no_grad():
        expected = model(x)
    attention(model, x, TARGETS)
    with torch.no_grad():
        assert torch.equal(model(x), expected)
    assert hook_count(model) == 0
    assert torch.equal(x, before)


@pytest.mark.parametrize(
    ("fusion", "fuse"),
    [
        ("mean", lambda w: w.mean(dim=1)),
        ("max", lambda w: w.amax(dim=1)),
        ("min", lambda w: w.amin(dim=1)),
    ],
)
@pytest.mark.parametrize("layer_index", [0, -1])
def test_attention_map_is_the_class_tokens_fused_row(
    fusion: str, fuse: object, layer_index: int
) -> None:
    model, x = tiny_vit(), images(3, 32)
    ours = attention(model, x, TARGETS, layer_index=layer_index, head_fusion=fusion).heatmap
    fused = fuse(_oracle_weights(model, x)[layer_index])  # type: ignore[operator]
    assert max_rel_diff(ours, _class_token_map(fused, 32)) <= 1e-5


def test_rollout_of_one_layer_is_its_attention_with_the_residual_added() -> None:
    model, x = tiny_vit(num_layers=1), images(3, 32)
    (weights,) = _oracle_weights(model, x)
    mixed = 0.5 * weights.mean(dim=1) + 0.5 * torch.eye(17)
    expected = _class_token_map(mixed / mixed.sum(dim=-1, keepdim=True), 32)
    assert max_rel_diff(attention_rollout(model, x, TARGETS).heatmap, expected) <= 1e-5


def test_rollout_multiplies_the_layers_last_on_the_left() -> None:
    model, x = tiny_vit(), images(3, 32)
    first, second = (0.5 * w.amax(dim=1) + 0.5 * torch.eye(17) for w in _oracle_weights(model, x))
    first, second = (m / m.sum(dim=-1, keepdim=True) for m in (first, second))
    expected = _class_token_map(second @ first, 32)
    ours = attention_rollout(model, x, TARGETS, head_fusion="max").heatmap
    assert max_rel_diff(ours, expected) <= 1e-5


@pytest.mark.parametrize("method", [attention, attention_rollout])
def test_batch_equals_one_image_at_a_time(method: object) -> None:
    model, x = tiny_vit(), images(3, 32)
    batch = method(model, x, TARGETS).heatmap  # type: ignore[operator]
    for i in range(len(x)):
        single = method(model, x[i : i + 1], TARGETS[i : i + 1]).heatmap  # type: ignore[operator]
        assert max_rel_diff(batch[i : i + 1], single) <= 1e-5


def test_bad_parameters_and_models_without_attention_are_refused() -> None:
    model, x = tiny_vit(), images(1, 32)
    with pytest.raises(InvalidRequest, match=r"layer_index must be in \[-2, 2\)"):
        attention(model, x, TARGETS[:1], layer_index=2)
    with pytest.raises(InvalidRequest, match="head_fusion must be one of mean, max, min"):
        attention_rollout(model, x, TARGETS[:1], head_fusion="median")
    with pytest.raises(UnsupportedMethod, match="need a vision transformer"):
        attention(resnet18_classifier(), images(1, 64), TARGETS[:1])
