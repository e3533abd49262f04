"""Run an attack over a batch and re-check every adversarial image with ONNX Runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor

from saliency_service.attacks import choose_targets
from saliency_service.attacks.base import AttackSpec
from saliency_service.engine.placement import stack_on
from saliency_service.models.loading import LoadedModel
from saliency_service.params import ParamValue


@dataclass(frozen=True)
class AttackInput:
    """One valid image of a request, at the model's input size."""

    pixels: Tensor
    label: int | None
    target_class: int | None
    eps: float | None


@dataclass(frozen=True)
class AttackOutcome:
    adversarial: Tensor
    label_before: int
    label_after_torch: int
    label_after_onnx: int
    success: bool
    engines_agree: bool
    linf: float
    l2: float
    target_class: int
    eps: float


def attack(
    model: LoadedModel,
    spec: AttackSpec,
    params: dict[str, ParamValue],
    items: list[AttackInput],
) -> list[AttackOutcome]:
    """Attack every item; labels default to the clean prediction; success is ORT's verdict."""
    device = model.device
    images = stack_on(device, [item.pixels for item in items])
    with torch.no_grad():
        clean_logits = model.classifier(images)
    before = clean_logits.argmax(dim=1)
    labels = torch.tensor(
        [before[i].item() if item.label is None else item.label for i, item in enumerate(items)],
        device=device,
    )
    given = None
    if params["target_mode"] == "given":
        given = torch.tensor([item.target_class for item in items], device=device)
    targets = choose_targets(
        clean_logits, str(params["target_mode"]), given, cast(int, params["target_seed"])
    )
    own: dict[str, object] = {p.name: params[p.name] for p in spec.params}
    if spec.eps is not None:
        default_eps = cast(float, own["eps"])
        own["eps"] = torch.tensor(
            [default_eps if item.eps is None else item.eps for item in items], device=device
        )
    # Black-box attacks query the faster forward-only classifier where there is one.
    network = model.forward if spec.forward_only and model.forward is not None else model.classifier
    output = spec.function(network, images, labels, targets=targets, **own)
    adversarial = output.adversarial.detach()
    used_eps = output.eps if output.eps is not None else own.get("eps")

    with torch.no_grad():
        after_torch = model.classifier(adversarial).argmax(dim=1)
    after_onnx = torch.from_numpy(model.onnx.logits(adversarial.cpu().numpy()).argmax(axis=1))
    delta = (adversarial - images).flatten(1)
    linf = delta.abs().amax(dim=1)
    l2 = delta.norm(dim=1)
    outcomes = []
    for i in range(len(items)):
        onnx_label = int(after_onnx[i])
        target = -1 if targets is None else int(targets[i])
        success = onnx_label == target if targets is not None else onnx_label != int(labels[i])
        outcomes.append(
            AttackOutcome(
                adversarial=adversarial[i].cpu(),
                label_before=int(before[i]),
                label_after_torch=int(after_torch[i]),
                label_after_onnx=onnx_label,
                success=success,
                engines_agree=onnx_label == int(after_torch[i]),
                linf=float(linf[i]),
                l2=float(l2[i]),
                target_class=target,
                eps=float(used_eps[i]) if isinstance(used_eps, Tensor) else float("nan"),
            )
        )
    return outcomes
