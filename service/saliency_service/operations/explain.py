"""Run an explainer over a batch: choose target classes, call the method, map back per image."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import cast

import torch
from torch import Tensor

from saliency_service.errors import InvalidRequest, UnsupportedMethod
from saliency_service.explainers import EXPLAINERS
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.explainers.localization import box_from_map
from saliency_service.images import resize
from saliency_service.models.loading import LoadedModel
from saliency_service.params import Param, ParamValue

# Parameters every explanation method accepts, handled here rather than by the method.
COMMON_PARAMS = (
    Param(
        "return_attributions",
        "flag",
        False,
        "Also return per-pixel, per-channel attributions (methods that have them).",
    ),
    Param(
        "localize",
        "flag",
        False,
        "Return a bounding box and mask: the largest connected region of the thresholded map.",
    ),
    Param(
        "localize_threshold",
        "number",
        0.5,
        "Threshold for `localize`, as a fraction of the map's maximum.",
        0.0,
        1.0,
    ),
)


@dataclass(frozen=True)
class ExplainInput:
    """One valid image of a request: pixels at the model's input size, and what to explain."""

    pixels: Tensor
    original_size: tuple[int, int]
    targets: tuple[int, ...]
    top_k: int


@dataclass
class ClassMap:
    target: int
    heatmap: Tensor
    attributions: Tensor | None
    image: Tensor | None
    diagnostics: dict[str, float] = field(default_factory=dict)
    box: tuple[int, int, int, int] | None = None
    mask: Tensor | None = None


@dataclass
class ExplainOutput:
    predicted_class: int
    maps: list[ClassMap]


def explainer(method: str) -> ExplainerSpec:
    """The registry entry for `method`, a name the API defines.

    Raises:
        UnsupportedMethod: this server does not implement it; the message lists those it does.
    """
    try:
        return EXPLAINERS[method]
    except KeyError:
        raise UnsupportedMethod(
            f"explanation method {method!r} is not implemented by this server; "
            f"available: {', '.join(sorted(EXPLAINERS))}"
        ) from None


def check_applicable(model: LoadedModel, spec: ExplainerSpec) -> None:
    """Raises UnsupportedMethod when `spec` cannot apply to `model` (see `check_model`)."""
    if spec.check_model is not None:
        spec.check_model(model.classifier)


def check_targets(model: LoadedModel, targets: tuple[int, ...], top_k: int) -> None:
    """Raises InvalidRequest when a target class or top_k is out of the model's range."""
    classes = model.config.num_classes
    for target in targets:
        if not 0 <= target < classes:
            raise InvalidRequest(
                f"target class {target} is out of range: model {model.config.name!r} "
                f"has {classes} classes (0..{classes - 1})"
            )
    if not 0 <= top_k <= classes:
        raise InvalidRequest(f"top_k must be in 0..{classes}, got {top_k}")


def explain(
    model: LoadedModel,
    spec: ExplainerSpec,
    params: dict[str, ParamValue],
    items: list[ExplainInput],
    chunk_size: int | None = None,
) -> list[ExplainOutput]:
    """Explain each item's target classes (its predicted class, or top_k, when none are given).

    `chunk_size` caps the rows (images, noisy copies, path points) per forward/backward pass of
    the methods that chunk (see `chunks_passes`); the engine sets it from the memory budget.
    """
    device = model.device
    images = torch.stack([item.pixels for item in items]).to(device)
    with torch.no_grad():
        logits = model.classifier(images)
    predicted = logits.argmax(dim=1).tolist()
    ranked = logits.argsort(dim=1, descending=True).tolist()
    rows: list[int] = []
    targets: list[int] = []
    for i, item in enumerate(items):
        wanted = item.targets or tuple(ranked[i][: max(item.top_k, 1)])
        rows.extend([i] * len(wanted))
        targets.extend(wanted)
    row_index = torch.tensor(rows, device=device)
    target_tensor = torch.tensor(targets, device=device)
    own = method_params(model, spec, params, chunk_size)
    result = spec.function(model.classifier, images[row_index], target_tensor, **own)
    probabilities = logits.softmax(dim=1)[row_index, target_tensor]
    row_logits = logits[row_index, target_tensor]

    outputs = [ExplainOutput(predicted[i], []) for i in range(len(items))]
    for r, (i, target) in enumerate(zip(rows, targets, strict=True)):
        height, width = items[i].original_size
        heatmap = resize(result.heatmap[r].float(), height, width)
        diagnostics = {name: float(values[r]) for name, values in result.diagnostics.items()}
        diagnostics["target_logit"] = float(row_logits[r])
        diagnostics["target_probability"] = float(probabilities[r])
        class_map = ClassMap(
            target=target,
            heatmap=heatmap.cpu(),
            attributions=(
                result.attributions[r].cpu()
                if params["return_attributions"] and result.attributions is not None
                else None
            ),
            image=None if result.image is None else result.image[r].cpu(),
            diagnostics=diagnostics,
        )
        if params["localize"]:
            boxes, masks = box_from_map(heatmap[None], cast(float, params["localize_threshold"]))
            class_map.box = tuple(int(v) for v in boxes[0].tolist())  # type: ignore[assignment]
            class_map.mask = masks[0].cpu()
        outputs[i].maps.append(class_map)
    return outputs


def rows_of(item: ExplainInput) -> int:
    """How many maps (rows through the method) an item asks for."""
    return len(item.targets) or max(item.top_k, 1)


def chunks_passes(spec: ExplainerSpec) -> bool:
    """Whether the method takes `chunk_size` and so keeps its own passes within a budget."""
    return "chunk_size" in inspect.signature(spec.function).parameters


def method_params(
    model: LoadedModel,
    spec: ExplainerSpec,
    params: dict[str, ParamValue],
    chunk_size: int | None = None,
) -> dict[str, object]:
    """The method's own parameters, with layer names turned into the modules they name."""
    own: dict[str, object] = {p.name: params[p.name] for p in spec.params}
    for p in spec.params:
        if p.kind != "layer":
            continue
        if not model.layers:
            raise UnsupportedMethod(
                f"{spec.name} needs a layer to hook, and model {model.config.name!r} exposes none "
                f"({model.config.kind} graphs cannot be hooked); use a gradient method"
            )
        name = own[p.name] or model.default_layer
        if name not in model.layers:
            raise InvalidRequest(
                f"model {model.config.name!r} has no layer {name!r} for {spec.name}; "
                f"valid: {', '.join(model.layers)}"
            )
        own[p.name] = model.classifier.layer(str(name))
    if chunks_passes(spec):
        own["chunk_size"] = chunk_size
    return own
