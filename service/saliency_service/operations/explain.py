"""Explain: validate a request once, price each image, and build the job its images batch under."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from saliency_service.engine.work import BatchKey, Job, params_key
from saliency_service.errors import InvalidLayer, InvalidRequest, UnsupportedMethod, quoted
from saliency_service.explainers import EXPLAINERS
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.models.loading import LoadedModel
from saliency_service.operations import diagnostics
from saliency_service.operations.calls import ExplainCall, ExplainItem, ImageInput, Params
from saliency_service.operations.explain_batch import ExplainInput, ExplainOutput, explain
from saliency_service.operations.fidelity import GATE
from saliency_service.operations.inputs import model_input
from saliency_service.operations.runner import Price
from saliency_service.params import Param, ParamValue, resolve_params

# Request-level choices the engine honours for explanations and attacks alike.
AUTOCAST = Param(
    "autocast",
    "text",
    "",
    "Reduced-precision passes: bfloat16 or float16 autocast, kept only where the maps stay "
    "within a Spearman correlation of 0.99, the top-1 class and completeness of float32's "
    "(checked on the first batch; each map's diagnostics say which was used); off for float32; "
    "empty for the model's setting.",
    choices=("", "off", "bfloat16", "float16"),
)
DETERMINISTIC = Param(
    "deterministic",
    "flag",
    False,
    "Compute each image alone, in passes of a fixed size, so its result is bit for bit the "
    "same whatever else the server batches with it (costs the batching).",
)
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
    Param(
        "assess",
        "text",
        "",
        "Comma-separated per-map metrics whose values land in each map's diagnostics, with "
        f"their default settings: {', '.join(diagnostics.PER_MAP)}.",
    ),
    AUTOCAST,
    DETERMINISTIC,
)
FORWARD = 1 / 3
# Bytes of one explanation beyond its tensors (label, diagnostics, framing), generously.
MAP_OVERHEAD_BYTES = 1024


def explainer(method: str) -> ExplainerSpec:
    """The registry record of `method`, a name the API defines.

    Raises:
        UnsupportedMethod: this server does not implement it; the message lists those it does.
    """
    spec = EXPLAINERS.get(method)
    if spec is None:
        raise UnsupportedMethod(
            f"explanation method {method!r} is not implemented by this server; "
            f"available: {', '.join(sorted(EXPLAINERS))}"
        )
    return spec


@dataclass(frozen=True)
class ExplainPlan:
    """A validated Explain request (see operations/runner.py for what a plan is)."""

    model: LoadedModel
    spec: ExplainerSpec
    params: dict[str, ParamValue]
    row_seconds: float
    max_pixels: int

    @property
    def job(self) -> Job:
        """Methods that hook no layer run on the replica with folded batch norms; methods with
        gradients may run under autocast, behind the fidelity gate (operations/fidelity.py)."""
        model, spec, params = self.model, self.spec, self.params
        key = BatchKey(model.key, "explain", spec.name, params_key(params))

        def run(instance: LoadedModel, items: list[ExplainInput], rows: int | None
                ) -> list[ExplainOutput]:
            return GATE.explain(
                key, instance.device,
                lambda: explain(instance, spec, params, items, chunk_size=rows),
            )

        return Job(
            key,
            run,
            chunking="inside" if spec.chunks else "passes",
            rows=lambda item: cast(ExplainInput, item).rows,
            foldable=not spec.hooks_layer,
            autocast=not spec.takes_forward,
            precision=str(params["autocast"]),
            deterministic=bool(params["deterministic"]),
        )

    def image(self, item: ExplainItem) -> ImageInput:
        return item.image

    def price(self, item: ExplainItem, size: tuple[int, int]) -> Price:
        """Device-seconds for the item's maps and the bytes they take in the answer.

        Raises:
            InvalidRequest: a target class or top_k is out of the model's range (this image
                fails alone).
        """
        check_targets(self.model, item.targets, item.top_k)
        config = self.model.config
        rows = len(item.targets) or max(item.top_k, 1)
        shape = (config.channels, config.height, config.width)
        passes = self.spec.passes(self._own_for_pricing(), shape)
        passes += diagnostics.passes(str(self.params["assess"]), shape[1] * shape[2], passes)
        # The forward pass that finds the predicted class, unless the method's own pass does.
        finding = 0.0 if self.spec.predicts and rows == 1 else FORWARD
        seconds = (finding + rows * passes) * self.row_seconds
        per_map = 4 * size[0] * size[1] + MAP_OVERHEAD_BYTES
        if self.params["localize"]:
            per_map += 4 * size[0] * size[1]
        if self.params["return_attributions"] or self.spec.image:
            per_map += 4 * config.channels * config.height * config.width
        return Price(seconds, rows * per_map)

    def prepare(self, item: ExplainItem) -> ExplainInput:
        pixels, size = model_input(self.model, item.image, self.max_pixels)
        return ExplainInput(pixels, size, item.targets, item.top_k)

    def _own_for_pricing(self) -> dict[str, object]:
        own: dict[str, object] = {p.name: self.params[p.name] for p in self.spec.params}
        for p in self.spec.params:
            if p.kind == "layer":
                own[p.name] = self.model.classifier.layer(str(own[p.name]))
        return own


def plan_explain(
    model: LoadedModel, call: ExplainCall, row_seconds: float, max_pixels: int
) -> ExplainPlan:
    """Check everything about the request that is not one image's: method, parameters, layer.

    Raises:
        UnsupportedMethod: the server has no such method, or it cannot apply to this model.
        InvalidRequest: a parameter is unknown, out of range, or does not fit the others;
            `return_attributions` for a method without attributions.
        InvalidLayer: no such layer.
    """
    spec, params = resolve_explain(call.method, call.params)
    check_forward_only(model, spec.name, spec.forward_only, "explanation method")
    spec.check_model(model.classifier)
    for param in spec.params:
        if param.kind == "layer":
            params[param.name] = layer_name(model, spec, params[param.name])
    return ExplainPlan(model, spec, params, row_seconds, max_pixels)


def resolve_explain(method: str, given: Params) -> tuple[ExplainerSpec, dict[str, ParamValue]]:
    """The method's record and every parameter resolved and checked, but for the layer and the
    model's kind, which only the model can check.

    Raises:
        UnsupportedMethod, InvalidRequest: as `plan_explain`.
    """
    spec = explainer(method)
    params = resolve_params(spec.name, (*spec.params, *COMMON_PARAMS), given)
    spec.check(params)
    if params["return_attributions"] and not spec.attributions:
        raise InvalidRequest(
            f"{spec.name} has no per-pixel attributions, only its heatmap: "
            "leave return_attributions unset"
        )
    if diagnostics.names(str(params["assess"])) and spec.name == "class_model_visualization":
        raise InvalidRequest("class_model_visualization makes an image, not a map of the "
                             "input: leave assess unset")
    return spec, params


def check_forward_only(model: LoadedModel, method: str, forward_only: bool, what: str) -> None:
    """Raises UnsupportedMethod when `model` runs forward passes only and `method` needs more.

    Forward-only methods say so in their registry record (`forward_only`).
    """
    if model.forward_only and not forward_only:
        source = model.config.onnx.name if model.config.onnx is not None else "an ONNX file"
        black_box = ", ".join(sorted(name for name, s in EXPLAINERS.items() if s.forward_only))
        raise UnsupportedMethod(
            f"{what} {method!r} needs the model's gradients or layers, and model "
            f"{model.config.name!r} is served from {source!r} alone (ONNX Runtime: forward "
            f"passes only); methods that run on it: Predict, {black_box} and black-box attacks"
        )


def layer_name(model: LoadedModel, spec: ExplainerSpec, given: ParamValue) -> str:
    """The layer a method reads: the one given, else the model's default.

    Raises:
        UnsupportedMethod: the model exposes no layer (its graph cannot be hooked).
        InvalidLayer: no such layer; the message lists the valid ones.
    """
    if not model.layers:
        raise UnsupportedMethod(
            f"{spec.name} needs a layer to hook, and model {model.config.name!r} exposes none "
            f"({model.config.kind} graphs cannot be hooked); use a gradient method"
        )
    name = str(given or model.default_layer)
    if name not in model.layers:
        raise InvalidLayer(
            f"model {model.config.name!r} has no layer {quoted(name)} for {spec.name}; "
            f"valid: {', '.join(model.layers)}"
        )
    return name


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
