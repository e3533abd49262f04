"""saliency.v1 response messages → the dataclasses of `results`; the one place that reads them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from saliency_client._methods import attack_method_name, explain_method_name, metric_name
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client.arrays import ParamValue, from_tensor, from_value
from saliency_client.errors import SaliencyError, from_item_error
from saliency_client.results import (
    AccuracyCurve,
    Array,
    AssessReport,
    AttackResult,
    AutoAttackResult,
    AutoAttackStage,
    ClassExplanation,
    ClassScore,
    EvaluateReport,
    ExplainResult,
    ExplainStreamResult,
    MethodAssessment,
    MethodInfo,
    MetricInfo,
    MetricResult,
    ModelInfo,
    ParamSpec,
    Prediction,
    SaliencyStability,
)


def _item_error(message: pb.Prediction | pb.ExplainResult | pb.AttackResult) -> (
    SaliencyError | None
):
    return from_item_error(message.error) if message.HasField("error") else None


def _optional_tensor(tensor: pb.Tensor, present: bool) -> Array | None:
    return from_tensor(tensor) if present else None


def model_info(message: pb.ModelInfo) -> ModelInfo:
    """Convert a ModelInfo message."""
    return ModelInfo(
        name=message.name,
        architecture=message.architecture,
        input_height=message.input_height,
        input_width=message.input_width,
        input_channels=message.input_channels,
        mean=tuple(message.mean),
        std=tuple(message.std),
        labels=tuple(message.labels),
        default_cam_layer=message.default_cam_layer,
        layers=tuple(message.layers),
        onnx_max_abs_logit_gap=message.onnx_max_abs_logit_gap,
        onnx_max_rel_logit_gap=message.onnx_max_rel_logit_gap,
        device=message.device,
        ready=message.ready,
        status=message.status,
    )


def _param_spec(message: pb.ParamSpec) -> ParamSpec:
    default: ParamValue | None = None
    if message.HasField("default"):
        default = from_value(message.default)
    # Value has no integer kind, so integer defaults arrive as floats.
    if message.type == "integer" and isinstance(default, float) and default.is_integer():
        default = int(default)
    return ParamSpec(
        name=message.name,
        type=message.type,
        default=default,
        minimum=message.minimum if message.HasField("minimum") else None,
        maximum=message.maximum if message.HasField("maximum") else None,
        choices=tuple(message.choices),
        description=message.description,
    )


def method_infos(response: pb.ListMethodsResponse) -> list[MethodInfo]:
    """Convert a ListMethodsResponse."""
    return [
        MethodInfo(
            name=method.name,
            kind="attack" if method.WhichOneof("method") == "attack" else "explain",
            description=method.description,
            params=tuple(_param_spec(param) for param in method.params),
        )
        for method in response.methods
    ]


def predictions(response: pb.PredictResponse) -> list[Prediction]:
    """Convert a PredictResponse, one Prediction per image in request order."""
    return [
        Prediction(
            top=[ClassScore(s.index, s.label, s.logit, s.probability) for s in item.top],
            error=_item_error(item),
        )
        for item in response.predictions
    ]


def _class_explanation(message: pb.ClassExplanation) -> ClassExplanation:
    box = message.box
    return ClassExplanation(
        target=message.target,
        label=message.label,
        heatmap=(
            from_tensor(message.heatmap)
            if message.HasField("heatmap")
            else np.zeros((0, 0), dtype=np.float32)
        ),
        attributions=_optional_tensor(message.attributions, message.HasField("attributions")),
        image=_optional_tensor(message.image, message.HasField("image")),
        diagnostics=dict(message.diagnostics),
        box=(box.x0, box.y0, box.x1, box.y1) if message.HasField("box") else None,
        mask=_optional_tensor(message.mask, message.HasField("mask")),
    )


def explain_results(response: pb.ExplainResponse) -> list[ExplainResult]:
    """Convert an ExplainResponse, one ExplainResult per image in request order."""
    return [
        ExplainResult(
            predicted_class=item.predicted_class,
            predicted_label=item.predicted_label,
            explanations=[_class_explanation(e) for e in item.explanations],
            error=_item_error(item),
        )
        for item in response.results
    ]


def explain_stream_result(response: pb.ExplainStreamResponse) -> ExplainStreamResult:
    """Convert one ExplainStreamResponse."""
    return ExplainStreamResult(
        request_id=response.request_id,
        results=explain_results(response.response),
        error=from_item_error(response.error) if response.HasField("error") else None,
    )


def attack_results(response: pb.AttackResponse) -> list[AttackResult]:
    """Convert an AttackResponse, one AttackResult per image in request order."""
    return [
        AttackResult(
            adversarial=_optional_tensor(item.adversarial, item.HasField("adversarial")),
            label_before=item.label_before,
            label_after_torch=item.label_after_torch,
            label_after_onnx=item.label_after_onnx,
            success=item.success,
            engines_agree=item.engines_agree,
            linf=item.linf,
            l2=item.l2,
            # -1 is the contract's "untargeted".
            target_class=item.target_class if item.target_class >= 0 else None,
            eps=item.eps,
            error=_item_error(item),
        )
        for item in response.results
    ]


def evaluate_report(message: pb.EvaluateReport) -> EvaluateReport:
    """Convert an EvaluateReport."""
    return EvaluateReport(
        clean_accuracy=message.clean_accuracy,
        curves=[
            AccuracyCurve(
                attack=attack_method_name(curve.attack),
                epsilons=list(curve.epsilons),
                accuracy=list(curve.accuracy),
                onnx_accuracy=list(curve.onnx_accuracy),
            )
            for curve in message.curves
        ],
        stability=[
            SaliencyStability(
                method=explain_method_name(item.method),
                attack=attack_method_name(item.attack),
                eps=item.eps,
                spearman=list(item.spearman),
                ssim=list(item.ssim),
                mean_spearman=item.mean_spearman,
                mean_ssim=item.mean_ssim,
            )
            for item in message.stability
        ],
        autoattack=[
            AutoAttackResult(
                eps=result.eps,
                robust_accuracy=result.robust_accuracy,
                onnx_robust_accuracy=result.onnx_robust_accuracy,
                stages=[
                    AutoAttackStage(
                        attack=attack_method_name(stage.attack),
                        attacked=stage.attacked,
                        broken=stage.broken,
                        robust_accuracy=stage.robust_accuracy,
                    )
                    for stage in result.stages
                ],
                robust=list(result.robust),
                broken_by=[attack_method_name(m) if m else None for m in result.broken_by],
            )
            for result in message.autoattack
        ],
    )


def metric_infos(response: pb.ListMethodsResponse) -> list[MetricInfo]:
    """Convert the metrics of a ListMethodsResponse."""
    return [
        MetricInfo(
            name=metric.name,
            family=metric.family,
            description=metric.description,
            params=tuple(_param_spec(param) for param in metric.params),
            higher_is_better=metric.higher_is_better,
            needs_ground_truth=metric.needs_ground_truth,
            per_map=metric.per_map,
        )
        for metric in response.metrics
    ]


def _values(values: Mapping[str, pb.Value]) -> dict[str, ParamValue | None]:
    return {name: from_value(value) for name, value in values.items()}


def assess_report(message: pb.AssessReport) -> AssessReport:
    """Convert an AssessReport."""
    return AssessReport(
        targets=list(message.targets),
        methods=[
            MethodAssessment(
                method=explain_method_name(method.method),
                params=_values(method.params),
                metrics=[
                    MetricResult(
                        name=metric_name(result.metric),
                        settings=_values(result.settings),
                        values=list(result.values),
                        mean=result.mean,
                        higher_is_better=result.higher_is_better,
                        curve_x=list(result.curve_x),
                        curve_labels=list(result.curve_labels),
                        curves=[list(curve.values) for curve in result.curves],
                        mean_curve=list(result.mean_curve),
                    )
                    for result in method.metrics
                ],
            )
            for method in message.methods
        ],
    )
