"""Run an attack over a batch and re-check every adversarial image with ONNX Runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor

from saliency_service.attacks import ATTACKS, TARGET_MODES, choose_targets
from saliency_service.attacks.base import AttackSpec
from saliency_service.errors import InvalidRequest, UnsupportedMethod
from saliency_service.models.loading import LoadedModel
from saliency_service.params import Param, ParamValue

# Parameters every attack accepts, handled here rather than by the attack.
COMMON_PARAMS = (
    Param(
        "target_mode",
        "text",
        "none",
        "none: push away from the label; given: towards each image's target_class; "
        "least_likely / random: towards the least likely / a random other class.",
        choices=TARGET_MODES,
    ),
    Param("target_seed", "integer", 0, "Seed for target_mode=random.", 0, 2**31 - 1),
)


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


def attacker(method: str) -> AttackSpec:
    """The registry entry for `method`, a name the API defines.

    Raises:
        UnsupportedMethod: this server does not implement it; the message lists those it does.
    """
    try:
        return ATTACKS[method]
    except KeyError:
        raise UnsupportedMethod(
            f"attack {method!r} is not implemented by this server; "
            f"available: {', '.join(sorted(ATTACKS))}"
        ) from None


def check_request(spec: AttackSpec, params: dict[str, ParamValue]) -> None:
    """Raises InvalidRequest when the request's target mode cannot apply to the attack."""
    if not spec.targeted and params["target_mode"] != "none":
        raise InvalidRequest(
            f"attack {spec.name!r} is untargeted only; target_mode must be 'none', "
            f"got {params['target_mode']!r}"
        )


def check_item(model: LoadedModel, spec: AttackSpec, item: AttackInput, target_mode: str) -> None:
    """Raises InvalidRequest for a label, target or ε that cannot apply to this model."""
    classes = model.config.num_classes
    for name, value in (("label", item.label), ("target_class", item.target_class)):
        if value is not None and not 0 <= value < classes:
            raise InvalidRequest(
                f"{name} {value} is out of range: model {model.config.name!r} "
                f"has {classes} classes (0..{classes - 1})"
            )
    if target_mode == "given" and item.target_class is None:
        raise InvalidRequest("target_mode 'given' needs a target_class for every image")
    if item.eps is not None and "eps" not in {p.name for p in spec.params}:
        raise InvalidRequest(f"attack {spec.name!r} has no ε budget; leave the image's eps unset")
    if item.eps is not None and not 0.0 <= item.eps <= 1.0:
        raise InvalidRequest(f"eps must be in [0, 1] (pixel space), got {item.eps:g}")


def attack(
    model: LoadedModel,
    spec: AttackSpec,
    params: dict[str, ParamValue],
    items: list[AttackInput],
) -> list[AttackOutcome]:
    """Attack every item; labels default to the clean prediction."""
    device = model.device
    images = torch.stack([item.pixels for item in items]).to(device)
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
    if "eps" in own:
        default_eps = float(own["eps"])  # type: ignore[arg-type]
        own["eps"] = torch.tensor(
            [default_eps if item.eps is None else item.eps for item in items], device=device
        )
    output = spec.function(model.classifier, images, labels, targets=targets, **own)
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
