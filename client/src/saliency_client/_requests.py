"""Python arguments → saliency.v1 request messages, shared by the sync and asyncio clients.

Every argument problem found here raises `InvalidArgument`, the error the server would answer,
so apps catch one exception type whether a mistake is caught locally or remotely.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from saliency_client._methods import attack_method, explain_method
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client.arrays import ParamValue, to_image, to_value
from saliency_client.errors import InvalidArgument

ImageInput = npt.NDArray[np.generic] | bytes
"""One image: pixels (H, W, C) or (H, W), or an encoded PNG/JPEG file."""
Images = ImageInput | Sequence[ImageInput]
"""One image, a batch array (N, H, W, C), or a list mixing arrays and encoded files."""
Targets = int | Sequence[int | Sequence[int] | None] | npt.NDArray[np.integer] | None
"""Classes to explain: None (the predicted class), one class for every image, or per image."""
PerImageInt = int | Sequence[int | None] | npt.NDArray[np.integer] | None
PerImageFloat = float | Sequence[float | None] | npt.NDArray[np.floating] | None
Params = Mapping[str, ParamValue | None]
_T = TypeVar("_T")


@dataclass(frozen=True, eq=False)
class ExplainJob:
    """One Explain request sent on an explain stream; its answer carries `request_id`."""

    request_id: str
    images: Images
    model: str
    method: str
    targets: Targets = None
    top_k: int = 1
    params: Params = field(default_factory=dict)


def images_to_proto(images: Images) -> list[pb.Image]:
    """Convert the accepted image forms to Image messages, one per image."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        batch: Sequence[ImageInput] = list(images)
    elif isinstance(images, list | tuple):
        batch = images
    else:
        batch = [images]  # type: ignore[list-item]  # one ndarray or bytes; checked below
    if not batch:
        raise InvalidArgument("no images given")
    converted = []
    for index, image in enumerate(batch):
        try:
            converted.append(to_image(image))
        except (TypeError, ValueError) as error:
            raise InvalidArgument(f"image {index}: {error}") from error
    return converted


def params_to_proto(params: Params) -> dict[str, pb.Value]:
    """Convert method parameters to Value messages; None means "the server's default"."""
    converted = {}
    for name, value in params.items():
        if value is None:
            continue
        try:
            converted[name] = to_value(value)
        except TypeError as error:
            raise InvalidArgument(f"parameter '{name}': {error}") from error
    return converted


def _per_image(value: object, count: int, name: str) -> list[object]:
    """Broadcast a scalar (or None) to every image, or check a per-image sequence's length."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, list | tuple):
        return [value] * count
    if len(value) != count:
        raise InvalidArgument(f"{name} has {len(value)} entries for {count} images")
    return list(value)


def _int(value: object, name: str) -> int:
    # bool is an int in Python, but True is never meant as a class index.
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    return int(value)


def _float(value: object, name: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        raise InvalidArgument(f"{name} must be a number, got {value!r}")
    return float(value)


def _class_list(value: object, name: str) -> list[int]:
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_int(item, name) for item in value]
    return [_int(value, name)]


def predict_request(
    images: Images, *, model: str, top_k: int, priority: int
) -> pb.PredictRequest:
    """Build a PredictRequest."""
    return pb.PredictRequest(
        model=model, images=images_to_proto(images), top_k=top_k, priority=priority
    )


def explain_request(
    images: Images,
    *,
    model: str,
    method: str,
    targets: Targets,
    top_k: int,
    params: Params,
    priority: int,
) -> pb.ExplainRequest:
    """Build an ExplainRequest; `targets` per image follows `Targets`, `top_k` fills the rest."""
    protos = images_to_proto(images)
    per_image = _per_image(targets, len(protos), "targets")
    items = [
        pb.ExplainItem(image=image, targets=_class_list(target, f"targets[{index}]"), top_k=top_k)
        for index, (image, target) in enumerate(zip(protos, per_image, strict=True))
    ]
    return pb.ExplainRequest(
        model=model,
        method=explain_method(method),
        items=items,
        params=params_to_proto(params),
        priority=priority,
    )


def _optional(value: object, convert: Callable[[object, str], _T], name: str) -> _T | None:
    return None if value is None else convert(value, name)


def attack_request(
    images: Images,
    *,
    model: str,
    method: str,
    labels: PerImageInt,
    target_classes: PerImageInt,
    eps: PerImageFloat,
    params: Params,
    priority: int,
) -> pb.AttackRequest:
    """Build an AttackRequest.

    A single `eps` becomes the request's "eps" parameter; a per-image sequence sets each item's
    own ε. `labels` and `target_classes` are one class for every image or one per image (None:
    the predicted class, and no target).
    """
    protos = images_to_proto(images)
    count = len(protos)
    all_params = dict(params_to_proto(params))
    per_image_eps: list[object] = [None] * count
    if isinstance(eps, list | tuple | np.ndarray):
        per_image_eps = _per_image(eps, count, "eps")
    elif eps is not None:
        all_params["eps"] = to_value(_float(eps, "eps"))
    columns = zip(
        protos,
        _per_image(labels, count, "labels"),
        _per_image(target_classes, count, "target_classes"),
        per_image_eps,
        strict=True,
    )
    items = [
        pb.AttackItem(
            image=image,
            label=_optional(label, _int, f"labels[{index}]"),
            target_class=_optional(target, _int, f"target_classes[{index}]"),
            eps=_optional(item_eps, _float, f"eps[{index}]"),
        )
        for index, (image, label, target, item_eps) in enumerate(columns)
    ]
    return pb.AttackRequest(
        model=model,
        method=attack_method(method),
        items=items,
        params=all_params,
        priority=priority,
    )


def evaluate_request(
    images: Images,
    labels: Sequence[int] | npt.NDArray[np.integer],
    *,
    model: str,
    attacks: Mapping[str, Params] | Sequence[str],
    epsilons: Sequence[float],
    stability_methods: Sequence[str],
    autoattack: bool | Mapping[str, Params] | Sequence[str] = False,
    autoattack_epsilons: Sequence[float] = (),
) -> pb.EvaluateRequest:
    """Build an EvaluateRequest; `attacks` names attacks, optionally mapped to their params.

    `autoattack`: True for AutoAttack's standard four attacks, or the ensemble's attacks in
    order (names, or names mapped to their params); False for none.
    """
    protos = images_to_proto(images)
    true_labels = _per_image(labels, len(protos), "labels")
    request = pb.EvaluateRequest(
        model=model,
        items=[
            pb.LabelledImage(image=image, label=_int(label, f"labels[{index}]"))
            for index, (image, label) in enumerate(zip(protos, true_labels, strict=True))
        ],
        attacks=_attack_specs(attacks),
        epsilons=[_float(eps, "epsilons") for eps in epsilons],
        stability_methods=[explain_method(name) for name in stability_methods],
    )
    if autoattack is not False:
        request.autoattack.SetInParent()
        request.autoattack.attacks.extend(_attack_specs(() if autoattack is True else autoattack))
        request.autoattack.epsilons.extend(
            _float(eps, "autoattack_epsilons") for eps in autoattack_epsilons
        )
    return request


def _attack_specs(attacks: Mapping[str, Params] | Sequence[str]) -> list[pb.AttackSpec]:
    attack_params: Mapping[str, Params] = (
        attacks if isinstance(attacks, Mapping) else {name: {} for name in attacks}
    )
    return [
        pb.AttackSpec(method=attack_method(name), params=params_to_proto(params))
        for name, params in attack_params.items()
    ]


def explain_stream_request(job: ExplainJob) -> pb.ExplainStreamRequest:
    """Build one ExplainStreamRequest from a job."""
    request = explain_request(
        job.images,
        model=job.model,
        method=job.method,
        targets=job.targets,
        top_k=job.top_k,
        params=job.params,
        priority=0,
    )
    return pb.ExplainStreamRequest(request_id=job.request_id, request=request)
