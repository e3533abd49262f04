"""Protobuf ⇄ domain objects, in one place. Nothing outside transport/ imports *_pb2."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb

from saliency_service.attacks.base import AttackSpec
from saliency_service.errors import InvalidRequest
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.images import RawImage
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.attack import AttackOutcome
from saliency_service.operations.evaluate import Report
from saliency_service.operations.explain import ExplainOutput
from saliency_service.operations.predict import ClassScore
from saliency_service.params import Param, ParamValue

DTYPES: dict[int, np.dtype[Any]] = {
    pb.DTYPE_UINT8: np.dtype("<u1"),
    pb.DTYPE_FLOAT32: np.dtype("<f4"),
}
MAX_TENSOR_DIMS = 4
# Protobuf messages are at most 2 GiB, so no tensor that arrives holds more.
MAX_TENSOR_BYTES = 2**31


def method_name(value: int, enum: EnumTypeWrapper, prefix: str, kind: str) -> str:
    """`EXPLAIN_METHOD_GRAD_CAM` → "grad_cam"; unset or unknown values are refused.

    Raises:
        InvalidRequest: the value is UNSPECIFIED or not in the enum; lists the valid names.
    """
    names = [n for n in enum.keys() if not n.endswith("_UNSPECIFIED")]  # noqa: SIM118
    if value == 0 or value not in enum.values():
        valid = ", ".join(n.removeprefix(prefix).lower() for n in names)
        raise InvalidRequest(f"{kind} method is unset or unknown ({value}); valid: {valid}")
    return enum.Name(value).removeprefix(prefix).lower()


def array(tensor: pb.Tensor, what: str) -> np.ndarray:
    """A proto Tensor as a numpy array, after checking dtype, shape and byte count."""
    dtype = DTYPES.get(tensor.dtype)
    if dtype is None:
        raise InvalidRequest(f"{what}: dtype {tensor.dtype} is not supported; use UINT8 or FLOAT32")
    shape = tuple(tensor.shape)
    if not 1 <= len(shape) <= MAX_TENSOR_DIMS or any(d < 0 for d in shape):
        raise InvalidRequest(f"{what}: shape {list(shape)} is invalid (1 to 4 non-negative dims)")
    # With a zero dimension any other one "fits" in zero bytes; numpy still refuses to describe
    # an array whose other dimensions multiply past its index range, so bound them too.
    if math.prod(d for d in shape if d) * dtype.itemsize > MAX_TENSOR_BYTES:
        raise InvalidRequest(f"{what}: shape {list(shape)} is larger than any message can carry")
    expected = math.prod(shape) * dtype.itemsize
    if expected != len(tensor.data):
        raise InvalidRequest(
            f"{what}: shape {list(shape)} of {dtype.name} needs {expected} bytes, "
            f"got {len(tensor.data)}"
        )
    return np.frombuffer(tensor.data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def raw_image(image: pb.Image, what: str) -> RawImage:
    """The encoded bytes or the pixel array an Image message carries."""
    kind = image.WhichOneof("data")
    if kind == "encoded":
        return bytes(image.encoded)
    if kind == "pixels":
        return array(image.pixels, what)
    raise InvalidRequest(f"{what}: no image data (set `encoded` or `pixels`)")


def params(values: Mapping[str, pb.Value]) -> dict[str, ParamValue]:
    """The request's parameter map as plain Python values."""
    out: dict[str, ParamValue] = {}
    for name, value in values.items():
        kind = value.WhichOneof("kind")
        if kind is None:
            raise InvalidRequest(f"parameter {name!r} has no value")
        if kind == "tensor":
            out[name] = array(value.tensor, f"parameter {name!r}").astype(np.float32)
        else:
            out[name] = getattr(value, kind)
    return out


def tensor(values: torch.Tensor | np.ndarray) -> pb.Tensor:
    """A float32 proto Tensor."""
    data = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values
    data = np.ascontiguousarray(data, dtype="<f4")
    return pb.Tensor(shape=data.shape, dtype=pb.DTYPE_FLOAT32, data=data.tobytes())


def hwc(chw: torch.Tensor) -> pb.Tensor:
    """A (C, H, W) torch image as a (H, W, C) proto Tensor."""
    return tensor(chw.permute(1, 2, 0))


def item_error(code: int, message: str) -> pb.ItemError:
    return pb.ItemError(code=code, message=message)


def model_info(model: LoadedModel) -> pb.ModelInfo:
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
        ready=True,
    )


def not_ready_model_info(name: str, reason: str) -> pb.ModelInfo:
    return pb.ModelInfo(name=name, ready=False, status=reason)


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


def explain_method_info(spec: ExplainerSpec, common: Sequence[Param]) -> pb.MethodInfo:
    return pb.MethodInfo(
        name=spec.name,
        explain="EXPLAIN_METHOD_" + spec.name.upper(),
        description=spec.description,
        params=[param_spec(p) for p in (*spec.params, *common)],
    )


def attack_method_info(spec: AttackSpec, common: Sequence[Param]) -> pb.MethodInfo:
    return pb.MethodInfo(
        name=spec.name,
        attack="ATTACK_METHOD_" + spec.name.upper(),
        description=spec.description,
        params=[param_spec(p) for p in (*spec.params, *common)],
    )


def prediction(scores: list[ClassScore]) -> pb.Prediction:
    return pb.Prediction(
        top=[
            pb.ClassScore(index=s.index, label=s.label, logit=s.logit, probability=s.probability)
            for s in scores
        ]
    )


def explain_result(output: ExplainOutput, labels: Sequence[str]) -> pb.ExplainResult:
    result = pb.ExplainResult(
        predicted_class=output.predicted_class, predicted_label=labels[output.predicted_class]
    )
    for m in output.maps:
        explanation = result.explanations.add(
            target=m.target,
            label=labels[m.target],
            heatmap=tensor(m.heatmap),
            diagnostics=m.diagnostics,
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
        clean_accuracy=report.clean_accuracy,
        curves=[
            pb.AccuracyCurve(
                attack="ATTACK_METHOD_" + c.attack.upper(),
                epsilons=c.epsilons,
                accuracy=c.accuracy,
                onnx_accuracy=c.onnx_accuracy,
            )
            for c in report.curves
        ],
        stability=[
            pb.SaliencyStability(
                method="EXPLAIN_METHOD_" + s.method.upper(),
                attack="ATTACK_METHOD_" + s.attack.upper(),
                eps=s.eps,
                spearman=s.spearman,
                ssim=s.ssim,
                mean_spearman=_mean(s.spearman),
                mean_ssim=_mean(s.ssim),
            )
            for s in report.stability
        ],
    )


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")
