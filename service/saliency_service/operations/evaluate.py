"""A robustness report over a labelled batch: accuracy under attack, and saliency stability.

Accuracy under attack is the curve of Kurakin et al. (2016, Fig. 2), judged by torch and by ONNX
Runtime. Stability follows the lecture notes' §4.1: for each image an attack flips at the largest
ε, compare the map of the predicted class before with the map of the predicted class after
(Spearman rank correlation and SSIM) — what a user would see next to each prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from saliency_service.attacks.base import AttackSpec
from saliency_service.errors import InvalidRequest
from saliency_service.evaluation.stability import spearman_rank_correlation, ssim
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.models.loading import LoadedModel

Progress = Callable[[float, str], None]
MAX_EPSILONS = 32


@dataclass
class Curve:
    attack: str
    epsilons: list[float]
    accuracy: list[float]
    onnx_accuracy: list[float]


@dataclass
class Stability:
    method: str
    attack: str
    eps: float
    spearman: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)


@dataclass
class Report:
    clean_accuracy: float
    curves: list[Curve]
    stability: list[Stability]


def check_plan(attacks: Sequence[AttackSpec], epsilons: Sequence[float]) -> None:
    """Raises InvalidRequest unless every attack has an ε and the ε list is sensible."""
    if not attacks:
        raise InvalidRequest("an evaluation needs at least one attack")
    for spec in attacks:
        if "eps" not in {p.name for p in spec.params}:
            raise InvalidRequest(f"attack {spec.name!r} has no ε budget, so it has no ε curve")
    if not 1 <= len(epsilons) <= MAX_EPSILONS:
        raise InvalidRequest(f"give 1 to {MAX_EPSILONS} epsilons, got {len(epsilons)}")
    for eps in epsilons:
        if not 0.0 <= eps <= 1.0:
            raise InvalidRequest(f"every ε must be in [0, 1] (pixel space), got {eps:g}")


def evaluate(
    model: LoadedModel,
    images: Tensor,
    labels: Tensor,
    attacks: Sequence[tuple[AttackSpec, dict[str, object]]],
    epsilons: Sequence[float],
    explainers: Sequence[tuple[ExplainerSpec, dict[str, object]]],
    progress: Progress,
) -> Report:
    """Attack the batch at every ε with every attack, then measure map stability.

    Shape:
        images: (N, C, H, W) in [0, 1] at the model's input size; labels: (N,).
    """
    device = model.device
    images, labels = images.to(device), labels.to(device)
    clean = _accuracy(model, images, labels)[0]
    steps = len(attacks) * (len(epsilons) + len(explainers))
    done = 0
    curves, stability = [], []
    for spec, params in attacks:
        curve = Curve(spec.name, list(epsilons), [], [])
        adversarial = images
        for eps in epsilons:
            progress(done / steps, f"{spec.name} at eps={eps:g}")
            budget = torch.full(labels.shape, eps, device=device)
            adversarial = spec.function(
                model.classifier, images, labels, targets=None, **{**params, "eps": budget}
            ).adversarial.detach()
            torch_accuracy, onnx_accuracy = _accuracy(model, adversarial, labels)
            curve.accuracy.append(torch_accuracy)
            curve.onnx_accuracy.append(onnx_accuracy)
            done += 1
        curves.append(curve)
        for explainer, explain_params in explainers:
            progress(done / steps, f"{explainer.name} stability under {spec.name}")
            stability.append(
                _stability(
                    model, images, adversarial, explainer, explain_params, spec.name, max(epsilons)
                )
            )
            done += 1
    progress(1.0, "done")
    return Report(clean, curves, stability)


def _accuracy(model: LoadedModel, images: Tensor, labels: Tensor) -> tuple[float, float]:
    with torch.no_grad():
        by_torch = model.classifier(images).argmax(dim=1)
    by_onnx = torch.from_numpy(model.onnx.logits(images.cpu().numpy()).argmax(axis=1))
    cpu_labels = labels.cpu()
    return (
        float((by_torch.cpu() == cpu_labels).double().mean()),
        float((by_onnx == cpu_labels).double().mean()),
    )


def _stability(
    model: LoadedModel,
    images: Tensor,
    adversarial: Tensor,
    spec: ExplainerSpec,
    params: dict[str, object],
    attack: str,
    eps: float,
) -> Stability:
    with torch.no_grad():
        before = model.classifier(images).argmax(dim=1)
        after = model.classifier(adversarial).argmax(dim=1)
    flipped = (before != after).nonzero().flatten()
    result = Stability(spec.name, attack, eps)
    if len(flipped) == 0:
        return result
    maps_before = spec.function(model.classifier, images[flipped], before[flipped], **params)
    maps_after = spec.function(model.classifier, adversarial[flipped], after[flipped], **params)
    a, b = maps_before.heatmap.detach().float(), maps_after.heatmap.detach().float()
    result.spearman = [float(v) for v in spearman_rank_correlation(a, b).tolist()]
    result.ssim = [float(v) for v in ssim(a, b).tolist()]
    return result
