"""Run an explainer over a batch: choose target classes, call the method, map back per image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import torch
from torch import Tensor

from saliency_service.engine.placement import stack_on
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.explainers.localization import box_from_map
from saliency_service.images import resize
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.diagnostics import diagnostics
from saliency_service.params import ParamValue


@dataclass(frozen=True)
class ExplainInput:
    """One valid image of a request: pixels at the model's input size, and what to explain."""

    pixels: Tensor
    original_size: tuple[int, int]
    targets: tuple[int, ...]
    top_k: int

    @property
    def rows(self) -> int:
        """How many maps (rows through the method) the image asks for."""
        return len(self.targets) or max(self.top_k, 1)


@dataclass
class ClassMap:
    target: int
    label: str
    heatmap: Tensor
    attributions: Tensor | None
    image: Tensor | None
    diagnostics: dict[str, float] = field(default_factory=dict)
    box: tuple[int, int, int, int] | None = None
    mask: Tensor | None = None


@dataclass
class ExplainOutput:
    predicted_class: int
    predicted_label: str
    maps: list[ClassMap]


def explain(
    model: LoadedModel,
    spec: ExplainerSpec,
    params: dict[str, ParamValue],
    items: list[ExplainInput],
    chunk_size: int | None = None,
) -> list[ExplainOutput]:
    """Explain each item's target classes (its predicted class, or top_k, when none are given).

    `params` are the request's resolved parameters, the method's own and the common ones
    (operations/explain.py); a layer is named by text and taken from this model instance.
    `chunk_size` caps the rows (images, noisy copies, path points) per pass of the methods
    that chunk; the engine sets it from its budgets.
    """
    device = model.device
    images = stack_on(device, [item.pixels for item in items])
    own = method_arguments(model, spec, params, chunk_size)
    if finds_own_classes(spec, items):
        # One pass both predicts and explains: no forward pass of its own to find the class.
        given = [item.targets[0] for item in items if item.targets]
        named = torch.tensor(given, device=device) if given else None
        result = spec.function(model.classifier, images, named, **own)
        logits = cast(Tensor, result.logits)
        row_index = torch.arange(len(items), device=device)
        target_tensor = logits.argmax(dim=1) if named is None else named
        row_images = images
    else:
        with torch.no_grad():
            logits = model.classifier(images)
        rows, targets = rows_and_targets(items, logits)
        row_index = torch.tensor(rows, device=device)
        target_tensor = torch.tensor(targets, device=device)
        row_images = images[row_index]
        result = spec.function(model.classifier, row_images, target_tensor, **own)
    predicted = logits.argmax(dim=1).tolist()
    rows, targets = row_index.tolist(), target_tensor.tolist()
    assessed = diagnostics(str(params["assess"]), model, spec, own, row_images,
                           target_tensor, result.heatmap, chunk_size)
    probabilities = logits.softmax(dim=1)[row_index, target_tensor]
    row_logits = logits[row_index, target_tensor]

    labels = model.config.labels
    outputs = [ExplainOutput(predicted[i], labels[predicted[i]], []) for i in range(len(items))]
    for r, (i, target) in enumerate(zip(rows, targets, strict=True)):
        height, width = items[i].original_size
        heatmap = resize(result.heatmap[r].float(), height, width)
        values = {name: float(v[r]) for name, v in (result.diagnostics | assessed).items()}
        values["target_logit"] = float(row_logits[r])
        values["target_probability"] = float(probabilities[r])
        class_map = ClassMap(
            target=target,
            label=labels[target],
            heatmap=heatmap.cpu(),
            attributions=(
                result.attributions[r].cpu()
                if params["return_attributions"] and result.attributions is not None
                else None
            ),
            image=None if result.image is None else result.image[r].cpu(),
            diagnostics=values,
        )
        if params["localize"]:
            boxes, masks = box_from_map(heatmap[None], cast(float, params["localize_threshold"]))
            class_map.box = tuple(int(v) for v in boxes[0].tolist())  # type: ignore[assignment]
            class_map.mask = masks[0].cpu()
        outputs[i].maps.append(class_map)
    return outputs


def finds_own_classes(spec: ExplainerSpec, items: list[ExplainInput]) -> bool:
    """Whether the method's pass can also find the predicted classes: it `predicts`, each image
    asks for one map, and either every image names its class or none does."""
    named = sum(1 for item in items if item.targets)
    return spec.predicts and all(item.rows == 1 for item in items) and named in (0, len(items))


def rows_and_targets(items: list[ExplainInput], logits: Tensor) -> tuple[list[int], list[int]]:
    """Per map, its image's index and its class: the image's targets, else its top_k classes."""
    ranked = logits.argsort(dim=1, descending=True).tolist()
    rows: list[int] = []
    targets: list[int] = []
    for i, item in enumerate(items):
        wanted = item.targets or tuple(ranked[i][: max(item.top_k, 1)])
        rows.extend([i] * len(wanted))
        targets.extend(wanted)
    return rows, targets


def method_arguments(
    model: LoadedModel,
    spec: ExplainerSpec,
    params: dict[str, ParamValue],
    chunk_size: int | None = None,
) -> dict[str, object]:
    """The method's own parameters, a layer's name turned into this instance's module (the
    name was checked when the request was planned), `chunk_size` for methods that chunk, and
    `forward` for those whose passes are forward passes of whole images."""
    own: dict[str, object] = {p.name: params[p.name] for p in spec.params}
    for p in spec.params:
        if p.kind == "layer":
            own[p.name] = model.classifier.layer(str(own[p.name] or model.default_layer))
    if spec.chunks:
        own["chunk_size"] = chunk_size
    if spec.takes_forward:
        own["forward"] = model.forward  # ONNX Runtime where it is faster (engine/pool.py)
    return own
