"""The CAM family against pytorch-grad-cam and Captum, its closed forms, and registry-wide checks.

Like with like: pytorch-grad-cam returns each map min-max scaled to [0, 1] (after a ReLU, before
and after OpenCV's bilinear resize); ours are raw, so the tests scale ours the same way
(`like_pytorch_grad_cam`; min-max scaling commutes with bilinear resizing). Captum's
`LayerGradCam` is raw at the layer's resolution, compared before upsampling.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
import pytorch_grad_cam
import pytorch_grad_cam.base_cam
import torch
from captum.attr import GuidedGradCam, LayerGradCam
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction
from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers import EXPLAINERS
from saliency_service.explainers._cam_base import gradient_cam_at_layer, upsample
from saliency_service.explainers._layer_capture import capture_activations, capture_gradients
from saliency_service.explainers.base import Explanation
from saliency_service.explainers.cam import cam
from saliency_service.explainers.eigen_cam import eigen_cam, eigen_cam_map
from saliency_service.explainers.grad_cam import grad_cam, grad_cam_map
from saliency_service.explainers.guided_backprop import guided_backprop
from saliency_service.explainers.guided_grad_cam import guided_grad_cam
from saliency_service.explainers.hires_cam import hires_cam_map
from saliency_service.explainers.score_cam import score_cam
from saliency_service.models.classifier import Classifier
from torch import Tensor, nn

from tests.unit.explainers.cam_fixtures import (
    CAM_METHODS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    hook_count,
    images,
    like_pytorch_grad_cam,
    resnet18_classifier,
    scaled_head_resnet18,
    tiny_gap_cnn,
)
from tests.unit.explainers.support import TOLERANCE, max_rel_diff, with_distinct_relus

TARGETS = torch.tensor([1, 5, 7])

GRADIENT_ORACLES = {
    "grad_cam": pytorch_grad_cam.GradCAM,
    "grad_cam_plus_plus": pytorch_grad_cam.GradCAMPlusPlus,
    "layer_cam": pytorch_grad_cam.LayerCAM,
    "hires_cam": pytorch_grad_cam.HiResCAM,
    "xgrad_cam": pytorch_grad_cam.XGradCAM,
}


def _oracle(cls: type, model: nn.Module, layer: nn.Module, x: Tensor, targets: Tensor) -> Tensor:
    explainer = cls(model, [layer])
    try:
        return torch.from_numpy(explainer(x, [ClassifierOutputTarget(int(t)) for t in targets]))
    finally:
        explainer.activations_and_grads.release()


@pytest.mark.parametrize("layer_name", ["layer3", "layer4"])
def test_grad_cam_is_captums_layer_grad_cam_at_the_layer(layer_name: str) -> None:
    model, x = resnet18_classifier(), images(3, 64)
    layer = model.layer(layer_name)
    ours = gradient_cam_at_layer(model, x, TARGETS, layer, grad_cam_map)
    expected = LayerGradCam(model, layer).attribute(x, target=TARGETS, relu_attributions=True)
    assert max_rel_diff(ours, expected[:, 0]) <= TOLERANCE


def _resize_only(cam: np.ndarray, target_size: tuple[int, int] | None = None) -> np.ndarray:
    """pytorch-grad-cam's `scale_cam_image` without its min-max scaling: OpenCV's resize alone."""
    if target_size is None:
        return np.float32(cam)
    return np.float32([cv2.resize(np.float32(image), target_size) for image in cam])


@pytest.mark.parametrize("method", sorted(GRADIENT_ORACLES))
def test_gradient_methods_match_pytorch_grad_cam_raw_and_normalised(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, x = scaled_head_resnet18(), images(3, 64)
    layer = model.layer("layer3")
    ours = EXPLAINERS[method].function(model, x, TARGETS, layer=layer).heatmap
    expected = _oracle(GRADIENT_ORACLES[method], model, layer, x, TARGETS)
    assert max_rel_diff(like_pytorch_grad_cam(ours), expected) <= TOLERANCE
    # The oracle's own pipeline (its ReLU at the layer, OpenCV's bilinear resize) with the
    # scaling left out: the raw values must agree too, not only their shape.
    monkeypatch.setattr(pytorch_grad_cam.base_cam, "scale_cam_image", _resize_only)
    raw = _oracle(GRADIENT_ORACLES[method], model, layer, x, TARGETS)
    assert raw.amax() > 0, "all-zero maps would prove nothing"
    assert max_rel_diff(ours, raw) <= TOLERANCE


def test_score_cam_matches_pytorch_grad_cam_with_the_authors_upsampling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pytorch-grad-cam builds its masks with nn.UpsamplingBilinear2d (align_corners=True); the
    # Score-CAM authors and we use align_corners=False. Give the oracle the same sampling.
    def upsampling(size: tuple[int, int]) -> Callable[[Tensor], Tensor]:
        return lambda t: nn.functional.interpolate(t, size, mode="bilinear", align_corners=False)

    monkeypatch.setattr(torch.nn, "UpsamplingBilinear2d", upsampling)
    model, x, targets = tiny_gap_cnn(), images(3, 24), TARGETS
    layer = model.layer("features.6")
    ours = score_cam(model, x, targets, layer=layer, chunk_size=20).heatmap
    expected = _oracle(pytorch_grad_cam.ScoreCAM, model, layer, x, targets)
    assert max_rel_diff(like_pytorch_grad_cam(ours), expected) <= TOLERANCE
    monkeypatch.setattr(pytorch_grad_cam.base_cam, "scale_cam_image", _resize_only)
    raw = _oracle(pytorch_grad_cam.ScoreCAM, model, layer, x, targets)
    assert raw.amax() > 0
    assert max_rel_diff(ours, raw) <= TOLERANCE


def test_eigen_cam_projection_is_pytorch_grad_cams_sign_corrected_one() -> None:
    model, x = resnet18_classifier(), images(3, 64)
    activations, _ = capture_activations(model, model.layer("layer3"), x, TARGETS)
    expected = get_2d_projection_with_sign_correction(activations.numpy())
    assert max_rel_diff(eigen_cam_map(activations), torch.from_numpy(expected)) <= TOLERANCE


def test_eigen_cam_matches_pytorch_grad_cam_up_to_the_arbitrary_sign() -> None:
    # pytorch-grad-cam keeps the sign NumPy's SVD happens to return; we fix it. Each image must
    # match the oracle with one of the two signs, and our map is the one with our sign.
    model, x = resnet18_classifier(), images(3, 64)
    layer = model.layer("layer3")
    activations, _ = capture_activations(model, layer, x, TARGETS)
    projection = eigen_cam_map(activations)
    signed = [upsample((sign * projection).clamp_min(0), (64, 64)) for sign in (1, -1)]
    assert max_rel_diff(eigen_cam(model, x, TARGETS, layer=layer).heatmap, signed[0]) <= 1e-6
    expected = _oracle(pytorch_grad_cam.EigenCAM, model, layer, x, TARGETS)
    for i in range(len(x)):
        gaps = [
            max_rel_diff(like_pytorch_grad_cam(m[i : i + 1]), expected[i : i + 1]) for m in signed
        ]
        assert min(gaps) <= TOLERANCE


def test_cam_is_grad_cams_map_before_its_relu_times_the_number_of_positions() -> None:
    # With GAP + linear, ∂y_c/∂A^k_ij = w_ck / (h·w), so Grad-CAM's α_k = w_ck / (h·w): CAM is
    # Grad-CAM's map before the ReLU times h·w, and CAM with relu=True is Grad-CAM times h·w.
    model, x = resnet18_classifier(), images(3, 64)
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    # Image 0's predicted class has a positive map; TARGETS' classes have negative ones here.
    targets = torch.cat([predicted[:1], TARGETS[1:]])
    layer = model.layer("layer4")
    positions = 2 * 2
    activations, gradients = capture_gradients(model, layer, x, targets)
    before_relu = upsample(grad_cam_map(activations, gradients) * positions, (64, 64))
    raw = cam(model, x, targets, layer=layer).heatmap
    assert raw.min() < 0 < raw.max(), "Zhou et al.'s map keeps its negative evidence"
    assert max_rel_diff(raw, before_relu) <= 1e-5
    relu = cam(model, x, targets, layer=layer, relu=True).heatmap
    assert max_rel_diff(grad_cam(model, x, targets, layer=layer).heatmap * positions, relu) <= 1e-5


def test_cam_mean_plus_bias_is_the_logit() -> None:
    # Zhou et al., eq. 1: S_c = Σ_k w_ck GAP(f_k) + b_c = mean(M_c) + b_c; bilinear upsampling
    # by a whole factor (align_corners=False) keeps the mean.
    model, x = resnet18_classifier(), images(3, 64)
    heatmap = cam(model, x, TARGETS, layer=model.layer("layer4")).heatmap
    with torch.no_grad():
        logits = model(x).gather(1, TARGETS[:, None])[:, 0]
    bias = model.network.fc.bias[TARGETS].detach()
    assert max_rel_diff(heatmap.mean(dim=(1, 2)) + bias, logits) <= 1e-5


def test_hires_cam_sums_to_the_logit_minus_its_bias() -> None:
    model, x = resnet18_classifier(), images(3, 64)
    activations, gradients = capture_gradients(model, model.layer("layer4"), x, TARGETS)
    with torch.no_grad():
        logits = model(x).gather(1, TARGETS[:, None])[:, 0]
    bias = model.network.fc.bias[TARGETS]
    total = hires_cam_map(activations, gradients).sum(dim=(1, 2))
    assert max_rel_diff(total, logits - bias) <= TOLERANCE


class _PooledHead(nn.Module):
    def __init__(self, final: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.final = final

    def forward(self, x: Tensor) -> Tensor:
        return self.final(self.conv(x).mean(dim=(2, 3)))


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 10)), "no linear layer"),
        (lambda: nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 10)), "does something else"),
    ],
    ids=["two_linear_layers", "norm_before_linear"],
)
def test_cam_refuses_heads_that_are_not_pool_plus_linear(
    head: Callable[[], nn.Module], reason: str
) -> None:
    torch.manual_seed(5)
    model = Classifier(_PooledHead(head()), IMAGENET_MEAN, IMAGENET_STD).eval()
    with pytest.raises(UnsupportedMethod, match=reason):
        cam(model, images(2, 16), TARGETS[:2], layer=model.layer("conv"))


def test_cam_reads_through_a_functional_relu_before_the_pool() -> None:
    # DenseNet applies F.relu between its last module and the pool: CAM weights ReLU(A).
    class ReluAfter(_PooledHead):
        def forward(self, x: Tensor) -> Tensor:
            return self.final(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    torch.manual_seed(6)
    network = ReluAfter(nn.Linear(8, 10))
    model = Classifier(network, IMAGENET_MEAN, IMAGENET_STD).eval()
    x, targets = images(2, 16), TARGETS[:2]
    with torch.no_grad():
        features = torch.relu(network.conv((x - model.mean) / model.std))
        weights = network.final.weight[targets]
        expected = torch.einsum("nk,nkhw->nhw", weights, features)
    assert max_rel_diff(cam(model, x, targets, layer=model.layer("conv")).heatmap, expected) <= 1e-5


def test_guided_grad_cam_is_guided_backprop_times_grad_cam() -> None:
    model, x = resnet18_classifier(), images(3, 64)
    layer = model.layer("layer4")
    ours = guided_grad_cam(model, x, TARGETS, layer=layer)
    guided = guided_backprop(model, x, TARGETS).attributions
    assert guided is not None
    assert ours.attributions is not None
    expected = guided * grad_cam(model, x, TARGETS, layer=layer).heatmap[:, None]
    assert max_rel_diff(ours.attributions, expected) <= 1e-6


def test_guided_grad_cam_matches_captum_with_bilinear_upsampling() -> None:
    # Captum's hooks need one non-inplace ReLU module per use; the twin computes the same function.
    model, x = with_distinct_relus(resnet18_classifier()), images(3, 64)
    layer = model.layer("layer4")
    ours = guided_grad_cam(model, x, TARGETS, layer=layer).attributions
    oracle = GuidedGradCam(model, layer)
    expected = oracle.attribute(x, target=TARGETS, interpolate_mode="bilinear")
    assert ours is not None
    assert max_rel_diff(ours, expected) <= TOLERANCE


def _explain(method: str, model: Classifier, x: Tensor, targets: Tensor) -> Explanation:
    return EXPLAINERS[method].function(model, x, targets, layer=model.layer("features.6"))


@pytest.mark.parametrize("method", CAM_METHODS)
def test_batch_equals_one_image_at_a_time_and_each_row_keeps_its_target(method: str) -> None:
    # Rows 0 and 1 are the same image with its two top classes as targets (random weights give
    # all-zero maps for many classes): neither row may borrow the other's target.
    model = tiny_gap_cnn()
    x = images(3, 24)
    x[1] = x[0]
    with torch.no_grad():
        top = model(x).argsort(dim=1, descending=True)
    targets = torch.stack([top[0, 0], top[0, 1], top[2, 0]])
    batch = _explain(method, model, x, targets).heatmap
    assert bool((batch.amax(dim=(1, 2)) > 0).all())
    for i in range(len(x)):
        single = _explain(method, model, x[i : i + 1], targets[i : i + 1]).heatmap
        assert max_rel_diff(batch[i : i + 1], single) <= 1e-5
    differs = not torch.allclose(batch[0], batch[1])
    assert differs == (method != "eigen_cam"), "eigen_cam alone is class-agnostic"


@pytest.mark.parametrize("method", CAM_METHODS)
def test_leaves_no_trace(method: str) -> None:
    model = tiny_gap_cnn()
    x = images(2, 24)
    before = x.clone()
    heatmap = _explain(method, model, x, TARGETS[:2]).heatmap
    assert torch.equal(x, before)
    assert hook_count(model) == 0
    assert all(p.grad is None for p in model.parameters())
    assert heatmap.shape == (2, 24, 24)
    assert bool(torch.isfinite(heatmap).all())
    if method != "cam":  # Zhou et al.'s CAM alone has no ReLU
        assert bool((heatmap >= 0).all()), "every other CAM map is ReLU'd"


@pytest.mark.parametrize("method", CAM_METHODS)
def test_frozen_weights_and_chunks_change_nothing(method: str) -> None:
    model = tiny_gap_cnn()
    x = images(3, 24)
    layer = model.layer("features.6")
    expected = _explain(method, model, x, TARGETS).heatmap
    model.requires_grad_(False)
    try:
        chunked = EXPLAINERS[method].function(model, x, TARGETS, layer=layer, chunk_size=2)
    finally:
        model.requires_grad_(True)
    assert max_rel_diff(chunked.heatmap, expected) <= 1e-5


def test_score_cam_weights_are_a_softmax_over_channels() -> None:
    # A map that is one channel's feature map (softmax weights sum to 1, the rest vanish) is a
    # convex combination: between the channel-wise min and max at every position.
    model, x = tiny_gap_cnn(), images(2, 24)
    layer = model.layer("features.6")
    activations, _ = capture_activations(model, layer, x, TARGETS[:2])
    maps = nn.functional.interpolate(activations, (24, 24), mode="bilinear", align_corners=False)
    heatmap = score_cam(model, x, TARGETS[:2], layer=layer).heatmap
    assert bool((heatmap <= maps.amax(dim=1) + 1e-6).all())
    assert bool((heatmap >= maps.amin(dim=1).clamp_min(0) - 1e-6).all())


def test_registry_covers_the_cam_family() -> None:
    expected = {
        "cam", "grad_cam", "grad_cam_plus_plus", "layer_cam", "hires_cam", "xgrad_cam",
        "score_cam", "eigen_cam", "guided_grad_cam",
    }  # fmt: skip
    assert set(CAM_METHODS) == expected
