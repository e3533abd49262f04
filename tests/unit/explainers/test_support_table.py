"""Every cell of README's architecture-support table, on those torchvision architectures.

The table is read from README.md itself, so the README cannot claim a cell no test runs, and
every registry method must sit in one of its columns. Each architecture gets seeded random
weights, its batch norms calibrated on a batch of random images (so activations and logits
spread as in a trained network instead of vanishing), and one 32 × 32 image (64 × 64 for `cam`,
whose map would otherwise be the single position global pooling reads).
- "ok": every method of the column returns a finite, non-constant map of the image's size, and
  meets its own axiom where it has one: IG reports its true completeness gap (checked with
  forward passes here; 16 points do not close it on random networks), DeepLIFT sums to delta
  (in float64, within 1e-8, so that float32 rounding in a random network's large activations
  is not mistaken for a missing rule), CAM's mean plus the class bias is the logit (eq. 1).
- "U" (UNIMPLEMENTED through the server): every method of the column raises UnsupportedMethod;
  DeepLIFT already from `check_model`, which the server calls before any compute.
Score-CAM runs one forward pass per channel, so it reads a layer with few channels; every layer
of vit_b_16 has 768 (about 25 s here), so vit's Score-CAM runs on a narrow VisionTransformer,
torchvision's same class.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache, lru_cache
from pathlib import Path

import pytest
import torch
from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers import EXPLAINERS
from saliency_service.explainers.base import any_model
from saliency_service.models.classifier import Classifier
from saliency_service.models.layers import default_cam_layer
from torch import Tensor, nn
from torchvision import models

from tests.unit.explainers.cam_fixtures import tiny_vit

README = Path(__file__).resolve().parents[3] / "README.md"
COLUMNS = {
    "gradient family, IG, occlusion": (
        "vanilla_gradient", "squared_gradient", "input_x_gradient", "smoothgrad",
        "smoothgrad_squared", "vargrad", "integrated_gradients", "occlusion",
    ),
    "Grad-CAM family + Eigen/Score-CAM": (
        "grad_cam", "grad_cam_plus_plus", "layer_cam", "hires_cam", "xgrad_cam", "score_cam",
        "eigen_cam",
    ),
    "`cam`": ("cam",),
    "guided backprop, deconvnet, Guided Grad-CAM": (
        "guided_backprop", "deconvnet", "guided_grad_cam",
    ),
    "DeepLIFT": ("deeplift",),
    "attention, rollout": ("attention", "attention_rollout"),
    "class-model visualisation": ("class_model_visualization",),
    "LRP": ("lrp",),
    "LIME, KernelSHAP, RISE, ablation, Shapley, GradientSHAP": (
        "lime", "kernel_shap", "rise", "feature_ablation", "shapley_sampling", "gradient_shap",
    ),
}  # fmt: skip
OPTIONS: dict[str, dict[str, object]] = {
    "smoothgrad": {"samples": 2},
    "smoothgrad_squared": {"samples": 2},
    "vargrad": {"samples": 2},
    "integrated_gradients": {"steps": 16},
    "occlusion": {"window": 16, "stride": 16},
    "class_model_visualization": {"steps": 2},
    "lime": {"samples": 16, "segmentation": "grid", "segments": 4},
    "kernel_shap": {"samples": 14, "segmentation": "grid", "segments": 4},
    "rise": {"masks": 8, "cells": 4},
    "feature_ablation": {"segmentation": "grid", "segments": 4},
    "shapley_sampling": {"permutations": 2, "segmentation": "grid", "segments": 4},
    "gradient_shap": {"samples": 2},
}
SCORE_CAM_LAYERS = {
    "resnet18": "layer1", "resnet50": "bn1", "vgg16": "features.1",
    "densenet121": "features.conv0", "mobilenet_v3_small": "features.1",
    "mobilenet_v3_large": "features.1", "efficientnet_b0": "features.0",
    "convnext_tiny": "features.0", "swin_t": "features.0",
}  # fmt: skip
SEVERAL_CLASSES = {"Grad-CAM family + Eigen/Score-CAM"}
SIZE = 32
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def support_table() -> dict[str, dict[str, str]]:
    """README's table: architecture → column → "ok" or "U…" (a row may name several)."""
    text = README.read_text()
    lines = text[text.index("Which architectures each method supports") :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    header, _, *rows = ([cell.strip() for cell in line.strip("|").split("|")] for line in
                        lines[start:end])  # fmt: skip
    table = {}
    for row in rows:
        for architecture in row[0].split(", "):
            table[architecture] = dict(zip(header[1:], row[1:], strict=True))
    return table


TABLE = support_table()
CASES = [(a, column) for a in TABLE for column in TABLE[a]]


def test_the_table_covers_every_method_and_its_columns_are_known() -> None:
    for cells in TABLE.values():
        assert set(cells) == set(COLUMNS)
    assert sorted(m for methods in COLUMNS.values() for m in methods) == sorted(EXPLAINERS)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: these single-image passes gain nothing from more, and on a shared
    CPU OpenMP's spinning workers made them several times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@lru_cache(maxsize=1)  # the cases run architecture by architecture: one network alive at once
def network(architecture: str) -> Classifier:
    torch.manual_seed(7)
    options = {"image_size": SIZE} if architecture == "vit_b_16" else {}
    net = models.get_model(architecture, weights=None, num_classes=10, **options)
    if architecture == "vit_b_16":
        nn.init.normal_(net.heads.head.weight, std=0.02)  # torchvision zero-initialises it
    model = Classifier(net, MEAN, STD)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.momentum = 1.0  # running statistics := this batch's
    model.train()
    with torch.no_grad():  # noise and flat colours, so that neither kind leaves every unit dead
        model(torch.cat([image(4, SIZE, seed=3), image(4, 1, seed=4).expand(-1, -1, SIZE, SIZE)]))
    return model.eval().requires_grad_(False)


@cache
def layer_name(architecture: str, size: int) -> str | None:
    return default_cam_layer(network(architecture).network, (3, size, size))


def image(count: int, size: int, seed: int = 1) -> Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def options(architecture: str, method: str, model: Classifier, size: int) -> dict[str, object]:
    chosen = dict(OPTIONS.get(method, {}))
    if any(p.kind == "layer" for p in EXPLAINERS[method].params):
        name = SCORE_CAM_LAYERS.get(architecture) if method == "score_cam" else None
        chosen["layer"] = model.layer(name or layer_name(architecture, size) or "")
    return chosen


@pytest.mark.parametrize(("architecture", "column"), CASES, ids=[f"{a}-{c}" for a, c in CASES])
def test_every_cell_of_the_support_table(architecture: str, column: str) -> None:
    model = network(architecture)
    size = 64 if column == "`cam`" and architecture != "vit_b_16" else SIZE
    x = image(1, size)
    with torch.no_grad():
        targets = model(x).argmax(dim=1)  # the server's default: the predicted class
    if column in SEVERAL_CLASSES:  # a ReLU'd map may be all zero for one class, not for all
        x, targets = x.expand(2, -1, -1, -1), torch.arange(2)
    for method in COLUMNS[column]:
        spec = EXPLAINERS[method]
        chosen = options(architecture, method, model, size)
        if TABLE[architecture][column].startswith("U"):
            if spec.check_model is not any_model:  # refused before any compute
                with pytest.raises(UnsupportedMethod):
                    spec.check_model(model)
            with pytest.raises(UnsupportedMethod) as refused:
                spec.function(model, x, targets, **chosen)
            assert len(str(refused.value)) > 20, "the error must say why"
            continue
        explained, rows = model, len(x)
        if method == "score_cam":  # one forward pass per channel and row: one row
            rows = 1
            if architecture == "vit_b_16":
                explained = tiny_vit()
                chosen["layer"] = explained.layer("conv_proj")
        result = spec.function(explained, x[:rows], targets[:rows], **chosen)
        if explained is model:
            _check_axiom(method, model, x, targets, result)
        heatmap = result.heatmap
        assert heatmap.shape == (rows, size, size)
        assert bool(torch.isfinite(heatmap).all())
        if method != "class_model_visualization":  # its check is its own axiom
            spread = heatmap.flatten(1).amax(dim=1) - heatmap.flatten(1).amin(dim=1)
            assert spread.max() > 0, f"{method}: a constant map"


def _check_axiom(method: str, model: Classifier, x: Tensor, targets: Tensor, result) -> None:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        scores = model(torch.cat([x, torch.zeros_like(x)]))[:, targets[0]]
    if method == "integrated_gradients":
        delta = float(scores[0] - scores[1])
        true_gap = float(result.attributions.double().sum()) - delta
        reported = float(result.diagnostics["completeness_gap"])
        assert abs(reported - true_gap) <= 1e-4 * max(1.0, abs(delta))
    if method == "deeplift":
        exact = copy.deepcopy(model).double()
        doubled = EXPLAINERS["deeplift"].function(exact, x.double(), targets)
        assert float(doubled.diagnostics["relative_completeness_gap"][0]) <= 1e-8
        del exact
    if method == "class_model_visualization":  # gradient ascent from grey (Simonyan et al.)
        assert bool(((result.image >= 0) & (result.image <= 1)).all())
        assert float(result.diagnostics["final_score"][0]) >= float(
            result.diagnostics["initial_score"][0]
        )
    if method == "lrp":  # the reported gap is the true Σ R − f_c(x)
        relevance = result.attributions.double()
        gap = float(relevance.sum()) - float(scores[0])
        # float32: the pass computes the logit with batch norms merged into the convolutions
        rounding = 1e-4 * max(1.0, float(relevance.abs().sum()))
        assert float(result.diagnostics["conservation_gap"][0]) == pytest.approx(gap, abs=rounding)
    if method == "kernel_shap":  # efficiency: Σ φ = f(x) − f(x'), x' black
        assert float(result.diagnostics["score_delta"][0]) == pytest.approx(
            float(scores[0] - scores[1]), rel=1e-4, abs=1e-5
        )
        assert abs(float(result.diagnostics["completeness_gap"][0])) <= 1e-4
    if method == "cam":
        head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        expected = float(scores[0] - head.bias[targets[0]])
        assert float(result.heatmap.mean()) == pytest.approx(expected, rel=1e-4, abs=1e-5)
