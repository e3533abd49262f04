"""Attack: validate a request once, price each image, and build the job its images batch under."""

from __future__ import annotations

from dataclasses import dataclass

from saliency_service.attacks import ATTACKS, TARGET_MODES
from saliency_service.attacks.base import AttackSpec
from saliency_service.engine.work import BatchKey, Job, params_key
from saliency_service.errors import InvalidRequest, UnsupportedMethod
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.attack_batch import AttackInput, attack
from saliency_service.operations.calls import AttackCall, AttackItem, ImageInput, Params
from saliency_service.operations.explain import AUTOCAST, DETERMINISTIC, check_forward_only
from saliency_service.operations.inputs import model_input
from saliency_service.operations.runner import Price
from saliency_service.params import Param, ParamValue, resolve_params

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
    AUTOCAST,
    DETERMINISTIC,
)
# The ONNX Runtime re-check: one forward pass, about a third of a forward+backward one.
ORT_CHECK = 1 / 3
RESULT_OVERHEAD_BYTES = 256


def attacker(method: str) -> AttackSpec:
    """The registry record of `method`, a name the API defines.

    Raises:
        UnsupportedMethod: this server does not implement it; the message lists those it does.
    """
    spec = ATTACKS.get(method)
    if spec is None:
        raise UnsupportedMethod(
            f"attack {method!r} is not implemented by this server; "
            f"available: {', '.join(sorted(ATTACKS))}"
        )
    return spec


@dataclass(frozen=True)
class AttackPlan:
    """A validated Attack request (see operations/runner.py for what a plan is)."""

    model: LoadedModel
    spec: AttackSpec
    params: dict[str, ParamValue]
    row_seconds: float
    max_pixels: int

    @property
    def job(self) -> Job:
        """The engine splits a batch into passes that fit its budgets; no layer is hooked."""
        model, spec, params = self.model, self.spec, self.params
        return Job(
            BatchKey(model.key, "attack", spec.name, params_key(params)),
            lambda instance, items, _: attack(instance, spec, params, items),
            foldable=True,
            autocast=spec.autocast,
            precision=str(params["autocast"]),
            deterministic=bool(params["deterministic"]),
        )

    def image(self, item: AttackItem) -> ImageInput:
        return item.image

    def price(self, item: AttackItem, size: tuple[int, int]) -> Price:
        """Device-seconds for the attack and the bytes of its adversarial image.

        Raises:
            InvalidRequest: the image's label, target or ε cannot apply (it fails alone).
        """
        check_item(self.model, self.spec, item, str(self.params["target_mode"]))
        own = {p.name: self.params[p.name] for p in self.spec.params}
        if item.eps is not None and "eps" in own:
            own["eps"] = item.eps
        seconds = (self.spec.passes(own) + ORT_CHECK) * self.row_seconds
        config = self.model.config
        return Price(
            seconds, 4 * config.channels * config.height * config.width + RESULT_OVERHEAD_BYTES
        )

    def prepare(self, item: AttackItem) -> AttackInput:
        pixels, _ = model_input(self.model, item.image, self.max_pixels)
        return AttackInput(pixels, item.label, item.target_class, item.eps)


def plan_attack(
    model: LoadedModel, call: AttackCall, row_seconds: float, max_pixels: int
) -> AttackPlan:
    """Check everything about the request that is not one image's.

    Raises:
        UnsupportedMethod: the server has no such attack, or the model has too few classes for it.
        InvalidRequest: a parameter is unknown or out of range; a target mode the attack
            cannot follow.
    """
    spec, params = resolve_attack(call.method, call.params)
    check_forward_only(model, spec.name, spec.forward_only, "attack")
    if model.config.num_classes < spec.min_classes:
        raise UnsupportedMethod(
            f"attack {spec.name!r} needs a model with at least {spec.min_classes} classes; "
            f"model {model.config.name!r} has {model.config.num_classes}"
        )
    return AttackPlan(model, spec, params, row_seconds, max_pixels)


def resolve_attack(method: str, given: Params) -> tuple[AttackSpec, dict[str, ParamValue]]:
    """The attack's record and every parameter resolved and checked (no model needed).

    Raises:
        UnsupportedMethod, InvalidRequest: as `plan_attack`.
    """
    spec = attacker(method)
    params = resolve_params(spec.name, (*spec.params, *COMMON_PARAMS), given)
    if not spec.targeted and params["target_mode"] != "none":
        raise InvalidRequest(
            f"attack {spec.name!r} is untargeted only; target_mode must be 'none', "
            f"got {params['target_mode']!r}"
        )
    if params["autocast"] not in ("", "off") and not spec.autocast:
        raise InvalidRequest(
            f"attack {spec.name!r} runs in float32 only (its steps follow the gradient's "
            "values, not only their signs); leave autocast unset or 'off'"
        )
    return spec, params


def check_item(model: LoadedModel, spec: AttackSpec, item: AttackItem, target_mode: str) -> None:
    """Raises InvalidRequest for a label, target or ε that cannot apply to this model.

    A per-image ε is held to the bounds of the attack's own ε parameter, so a budget accepted
    for the request is accepted per image too (an L2 ε of 2, say).
    """
    classes = model.config.num_classes
    for name, value in (("label", item.label), ("target_class", item.target_class)):
        if value is not None and not 0 <= value < classes:
            raise InvalidRequest(
                f"{name} {value} is out of range: model {model.config.name!r} "
                f"has {classes} classes (0..{classes - 1})"
            )
    if target_mode == "given" and item.target_class is None:
        raise InvalidRequest("target_mode 'given' needs a target_class for every image")
    if item.eps is None:
        return
    eps = spec.eps
    if eps is None:
        raise InvalidRequest(f"attack {spec.name!r} has no ε budget; leave the image's eps unset")
    resolve_params(spec.name, (eps,), {"eps": item.eps})
