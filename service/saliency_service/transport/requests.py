"""Protobuf requests → the calls of operations/calls.py, and the caller of each RPC.

Conversion checks only what the protobuf itself cannot: tensor layouts and method enums. What a
value means (ranges, models, layers) is checked once, by operations.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from typing import Any

import grpc
import numpy as np
from saliency_client import _methods
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb

from saliency_service.errors import InvalidRequest, quoted
from saliency_service.operations.calls import (
    AssessCall,
    AssessItem,
    AttackCall,
    AttackItem,
    Caller,
    EnsembleCall,
    EvaluateCall,
    ExplainCall,
    ExplainItem,
    ImageInput,
    PredictCall,
)
from saliency_service.params import ParamValue

DTYPES: dict[int, np.dtype[Any]] = {
    pb.DTYPE_UINT8: np.dtype("<u1"),
    pb.DTYPE_FLOAT32: np.dtype("<f4"),
}
MAX_TENSOR_DIMS = 4
# Protobuf messages are at most 2 GiB, so no tensor that arrives holds more.
MAX_TENSOR_BYTES = 2**31


def caller(context: grpc.aio.ServicerContext[Any, Any], priority: int = 0) -> Caller:
    """Who calls — the bearer token's digest when there is one, else the connection — how
    urgently, and until when."""
    tenant = f"peer:{context.peer()}"
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            digest = hashlib.sha256(str(value).encode()).hexdigest()[:16]
            tenant = f"token:{digest}"
    remaining = context.time_remaining()
    deadline = None if remaining is None else time.monotonic() + remaining
    return Caller(tenant, priority, deadline)


def explain_method(number: int) -> str:
    """`EXPLAIN_METHOD_GRAD_CAM` → "grad_cam", by the client's table; unset or unknown → error."""
    return _known(number, _methods.explain_method_name(number), _methods.EXPLAIN_METHODS,
                  "explain method")


def attack_method(number: int) -> str:
    """`ATTACK_METHOD_PGD` → "pgd", by the client's table; unset or unknown → error."""
    return _known(number, _methods.attack_method_name(number), _methods.ATTACK_METHODS,
                  "attack method")


def _known(number: int, name: str, table: Mapping[str, str], what: str) -> str:
    if name not in table:
        valid = ", ".join(sorted(table))
        raise InvalidRequest(f"{what} is unset or unknown ({number}); valid: {valid}")
    return name


def predict(request: pb.PredictRequest) -> PredictCall:
    return PredictCall(request.model, [image(m, i) for i, m in enumerate(request.images)],
                       request.top_k, request.model_version)


def explain(request: pb.ExplainRequest) -> ExplainCall:
    items = [
        ExplainItem(image(item.image, i), tuple(item.targets), item.top_k)
        for i, item in enumerate(request.items)
    ]
    return ExplainCall(request.model, explain_method(request.method), items,
                       params(request.params), request.model_version)


def attack(request: pb.AttackRequest) -> AttackCall:
    items = [
        AttackItem(
            image(item.image, i),
            label=item.label if item.HasField("label") else None,
            target_class=item.target_class if item.HasField("target_class") else None,
            eps=item.eps if item.HasField("eps") else None,
        )
        for i, item in enumerate(request.items)
    ]
    return AttackCall(request.model, attack_method(request.method), items, params(request.params),
                      request.model_version)


def evaluate(request: pb.EvaluateRequest) -> EvaluateCall:
    for eps in request.epsilons:
        if not math.isfinite(eps):
            raise InvalidRequest("every ε must be a finite number")
    autoattack = None
    if request.HasField("autoattack"):
        options = request.autoattack
        for eps in options.epsilons:
            if not math.isfinite(eps):
                raise InvalidRequest("every autoattack ε must be a finite number")
        autoattack = EnsembleCall(
            [(attack_method(a.method), params(a.params)) for a in options.attacks],
            list(options.epsilons),
        )
    return EvaluateCall(
        model=request.model,
        images=[image(item.image, i) for i, item in enumerate(request.items)],
        labels=[item.label for item in request.items],
        attacks=[(attack_method(a.method), params(a.params)) for a in request.attacks],
        epsilons=list(request.epsilons),
        stability_methods=[explain_method(m) for m in request.stability_methods],
        version=request.model_version,
        autoattack=autoattack,
    )


def metric_name(number: int) -> str:
    """`ASSESSMENT_METRIC_DELETION` → "deletion"; unset or unknown → error."""
    return _known(number, _methods.metric_name(number), _methods.METRICS, "metric")


def assess(request: pb.AssessRequest) -> AssessCall:
    items = [
        AssessItem(
            image(item.image, i),
            target=item.target if item.HasField("target") else None,
            mask=_mask(item, i),
            boxes=tuple((b.x0, b.y0, b.x1, b.y1) for b in item.boxes),
        )
        for i, item in enumerate(request.items)
    ]
    return AssessCall(
        model=request.model,
        items=items,
        methods=[(explain_method(m.method), params(m.params)) for m in request.methods],
        metrics=[(metric_name(m.metric), params(m.params)) for m in request.metrics],
        version=request.model_version,
    )


def _mask(item: pb.AssessItem, index: int) -> np.ndarray | InvalidRequest | None:
    if not item.HasField("mask"):
        return None
    try:
        mask = array(item.mask, f"image {index}: mask")
    except InvalidRequest as error:
        return error
    if mask.ndim != 2:
        return InvalidRequest(f"image {index}: mask must be (H, W), got {list(mask.shape)}")
    return mask


def image(message: pb.Image, index: int) -> ImageInput:
    """The encoded bytes or the pixel array an Image message carries, or why it cannot be read
    (that image then fails alone)."""
    kind = message.WhichOneof("data")
    if kind == "encoded":
        return bytes(message.encoded)
    if kind == "pixels":
        try:
            return array(message.pixels, f"image {index}")
        except InvalidRequest as error:
            return error
    return InvalidRequest(f"image {index}: no image data (set `encoded` or `pixels`)")


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
    # A read-only view of the message's bytes: the decode threads copy it, off the event loop.
    return np.frombuffer(tensor.data, dtype=dtype).reshape(shape)


def params(values: Mapping[str, pb.Value]) -> dict[str, ParamValue]:
    """The request's parameter map as plain Python values."""
    out: dict[str, ParamValue] = {}
    for name, value in values.items():
        kind = value.WhichOneof("kind")
        if kind is None:
            raise InvalidRequest(f"parameter {quoted(name)} has no value")
        if kind == "tensor":
            out[name] = array(value.tensor, f"parameter {quoted(name)}").astype(np.float32)
        else:
            out[name] = getattr(value, kind)
    return out
