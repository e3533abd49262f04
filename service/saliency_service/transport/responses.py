"""Operations' results → protobuf responses; each image's own error in its place."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import torch
from saliency_client import _methods
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb

from saliency_service.errors import SaliencyError
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.assess_plan import MetricEntry
from saliency_service.operations.assess_report import AssessReport, MetricOutcome
from saliency_service.operations.attack_batch import AttackOutcome
from saliency_service.operations.evaluate import Progress, Report
from saliency_service.operations.explain_batch import ExplainOutput
from saliency_service.operations.lifecycle import Change
from saliency_service.operations.predict import ClassScore
from saliency_service.operations.service import Catalogue, Limits
from saliency_service.params import Param, ParamValue
from saliency_service.transport.ensemble_responses import autoattack_result
from saliency_service.transport.status import code_of

T = TypeVar("T")
M = TypeVar("M")


def tensor(values: torch.Tensor | np.ndarray) -> pb.Tensor:
    """A float32 proto Tensor."""
    data = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values
    data = np.ascontiguousarray(data, dtype="<f4")
    return pb.Tensor(shape=data.shape, dtype=pb.DTYPE_FLOAT32, data=data.tobytes())


def hwc(chw: torch.Tensor) -> pb.Tensor:
    """A (C, H, W) torch image as a (H, W, C) proto Tensor."""
    return tensor(chw.permute(1, 2, 0))


def item_error(error: BaseException) -> pb.ItemError:
    code, text = code_of(error)
    return pb.ItemError(code=code.value[0], message=text)


def per_item(
    results: Sequence[T | SaliencyError], convert: Callable[[T], M], message: Callable[..., M]
) -> list[M]:
    """Each image's result converted, or a message carrying only its error."""
    return [
        message(error=item_error(r)) if isinstance(r, SaliencyError) else convert(r)
        for r in results
    ]


def model_info(
    model: LoadedModel, pass_seconds: float, is_default: bool, status: str = ""
) -> pb.ModelInfo:
    config = model.config
    return pb.ModelInfo(
        name=config.name,
        architecture=config.kind,
        input_height=config.height,
        input_width=config.width,
        input_channels=config.channels,
        mean=config.mean,
        std=config.std,
        labels=config.labels,
        default_cam_layer=model.default_layer or "",
        layers=model.layers,
        onnx_max_abs_logit_gap=model.onnx_max_abs_gap,
        onnx_max_rel_logit_gap=model.onnx_max_rel_gap,
        device=str(model.device),
        pass_seconds=pass_seconds,
        ready=True,
        status=status and f"still serving the earlier files; the newest failed to load: {status}",
        version=config.version,
        is_default_version=is_default,
        revision=model.revision,
        loaded_unix_s=model.loaded_at,
        forward_only=model.forward_only,
        instances=config.instances,
        max_batch_size=config.max_batch_size or 0,
        max_queue_delay_ms=config.max_queue_delay_ms or 0.0,
        autocast=config.autocast or "",
    )


def not_ready_model_info(name: str, reason: str, version: str = "") -> pb.ModelInfo:
    return pb.ModelInfo(name=name, ready=False, status=reason, version=version)


def reload_response(changes: Sequence[Change]) -> pb.ReloadModelsResponse:
    return pb.ReloadModelsResponse(
        changes=[
            pb.ModelChange(model=c.model, version=c.version, action=c.action, reason=c.reason)
            for c in changes
        ]
    )


def limits(values: Limits) -> pb.Limits:
    return pb.Limits(
        max_items_per_request=values.max_items_per_request,
        max_request_seconds=values.max_request_seconds,
        max_message_bytes=values.max_message_bytes,
        max_image_pixels=values.max_image_pixels,
        max_queue_size=values.max_queue_size,
        max_queued_seconds=values.max_queued_seconds,
        tenant_share=values.tenant_share,
        slice_ms=values.slice_ms,
    )


def value(python: ParamValue) -> pb.Value:
    if python is None:
        return pb.Value()
    if isinstance(python, bool):
        return pb.Value(flag=python)
    if isinstance(python, (int, float)):
        return pb.Value(number=float(python))
    if isinstance(python, str):
        return pb.Value(text=python)
    return pb.Value(tensor=tensor(python))


def param_spec(param: Param) -> pb.ParamSpec:
    kind = "text" if param.kind == "layer" else param.kind
    return pb.ParamSpec(
        name=param.name,
        type=kind,
        default=value(param.default),
        minimum=param.minimum,
        maximum=param.maximum,
        choices=param.choices,
        description=param.description,
    )


def methods(catalogue: Catalogue) -> pb.ListMethodsResponse:
    infos = [
        pb.MethodInfo(
            name=spec.name,
            explain=_methods.explain_method(spec.name),
            description=spec.description,
            params=[param_spec(p) for p in params],
        )
        for spec, params in catalogue.explainers
    ]
    infos += [
        pb.MethodInfo(
            name=spec.name,
            attack=_methods.attack_method(spec.name),
            description=spec.description,
            params=[param_spec(p) for p in params],
        )
        for spec, params in catalogue.attacks
    ]
    return pb.ListMethodsResponse(
        methods=infos,
        limits=limits(catalogue.limits),
        metrics=[metric_info(spec) for spec in catalogue.metrics],
    )


def metric_info(spec: MetricEntry) -> pb.MetricInfo:
    return pb.MetricInfo(
        name=spec.name,
        metric=_methods.metric(spec.name),
        family=spec.family,
        description=spec.description,
        params=[param_spec(p) for p in spec.params],
        higher_is_better=spec.higher_is_better,
        needs_ground_truth=spec.needs_ground_truth,
        per_map=spec.per_map,
    )


def prediction(scores: list[ClassScore]) -> pb.Prediction:
    return pb.Prediction(
        top=[
            pb.ClassScore(index=s.index, label=s.label, logit=s.logit, probability=s.probability)
            for s in scores
        ]
    )


def explain_result(output: ExplainOutput) -> pb.ExplainResult:
    result = pb.ExplainResult(
        predicted_class=output.predicted_class, predicted_label=output.predicted_label
    )
    for m in output.maps:
        explanation = result.explanations.add(
            target=m.target, label=m.label, heatmap=tensor(m.heatmap), diagnostics=m.diagnostics
        )
        if m.attributions is not None:
            explanation.attributions.CopyFrom(hwc(m.attributions))
        if m.image is not None:
            explanation.image.CopyFrom(hwc(m.image))
        if m.box is not None and m.mask is not None:
            x0, y0, x1, y1 = m.box
            explanation.box.CopyFrom(pb.BoundingBox(x0=x0, y0=y0, x1=x1, y1=y1))
            explanation.mask.CopyFrom(tensor(m.mask.float()))
    return result


def attack_result(outcome: AttackOutcome) -> pb.AttackResult:
    return pb.AttackResult(
        adversarial=hwc(outcome.adversarial),
        label_before=outcome.label_before,
        label_after_torch=outcome.label_after_torch,
        label_after_onnx=outcome.label_after_onnx,
        success=outcome.success,
        engines_agree=outcome.engines_agree,
        linf=outcome.linf,
        l2=outcome.l2,
        target_class=outcome.target_class,
        eps=outcome.eps,
    )


def evaluate_report(report: Report) -> pb.EvaluateReport:
    return pb.EvaluateReport(
        model_version=report.model_version,
        clean_accuracy=report.clean_accuracy,
        curves=[
            pb.AccuracyCurve(
                attack=_methods.attack_method(c.attack),
                epsilons=c.epsilons,
                accuracy=c.accuracy,
                onnx_accuracy=c.onnx_accuracy,
            )
            for c in report.curves
        ],
        stability=[
            pb.SaliencyStability(
                method=_methods.explain_method(s.method),
                attack=_methods.attack_method(s.attack),
                eps=s.eps,
                spearman=s.spearman,
                ssim=s.ssim,
                mean_spearman=_mean(s.spearman),
                mean_ssim=_mean(s.ssim),
            )
            for s in report.stability
        ],
        autoattack=[autoattack_result(r) for r in report.autoattack],
    )


def evaluate_message(message: Progress | Report) -> pb.EvaluateResponse:
    """A progress message of the Evaluate stream, or its last one, carrying the report."""
    if isinstance(message, Progress):
        return pb.EvaluateResponse(progress=message.fraction, stage=message.stage)
    return pb.EvaluateResponse(progress=1.0, stage="report", report=evaluate_report(message))


def assess_message(message: Progress | AssessReport) -> pb.AssessResponse:
    """A progress message of the Assess stream, or its last one, carrying the report."""
    if isinstance(message, Progress):
        return pb.AssessResponse(progress=message.fraction, stage=message.stage)
    return pb.AssessResponse(progress=1.0, stage="report", report=assess_report(message))


def assess_report(report: AssessReport) -> pb.AssessReport:
    return pb.AssessReport(
        targets=report.targets,
        methods=[
            pb.MethodAssessment(
                method=_methods.explain_method(m.method),
                params={name: value(v) for name, v in m.params.items()},
                metrics=[_metric_result(outcome) for outcome in m.metrics],
            )
            for m in report.methods
        ],
        model_version=report.model_version,
    )


def _metric_result(outcome: MetricOutcome) -> pb.MetricResult:
    return pb.MetricResult(
        metric=_methods.metric(outcome.name),
        settings={name: value(v) for name, v in outcome.settings.items()},
        values=outcome.values,
        mean=outcome.mean,
        higher_is_better=outcome.higher_is_better,
        curve_x=outcome.curve_x,
        curve_labels=outcome.curve_labels,
        curves=[pb.Curve(values=curve) for curve in outcome.curves],
        mean_curve=outcome.mean_curve,
    )


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")
