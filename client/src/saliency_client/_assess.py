"""Assess requests: methods and metrics by name, per-image targets and ground truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from saliency_client._methods import explain_method, metric
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._requests import (
    Images,
    Params,
    PerImageInt,
    _int,
    _optional,
    _per_image,
    images_to_proto,
    params_to_proto,
)
from saliency_client.arrays import to_tensor
from saliency_client.errors import InvalidArgument

Named = Mapping[str, Params] | Sequence[str | tuple[str, Params]]
"""Methods or metrics: names, names mapped to their parameters, or (name, parameters) pairs (to
use one name twice with different parameters)."""
Masks = npt.NDArray[np.generic] | Sequence[npt.NDArray[np.generic] | None] | None
"""Ground-truth masks: a batch (N, H, W), or one (H, W) array (or None) per image; nonzero on
the object."""
Box = tuple[int, int, int, int]
Boxes = Sequence[Sequence[Box] | None] | None
"""Ground-truth boxes (x0, y0, x1, y1; x1, y1 exclusive) per image, in its pixels."""


def _named(named: Named, what: str) -> list[tuple[str, Params]]:
    if isinstance(named, Mapping):
        return list(named.items())
    if isinstance(named, str):
        raise InvalidArgument(f"{what} must be a list of names, not one string")
    return [(entry, {}) if isinstance(entry, str) else (entry[0], entry[1]) for entry in named]


def _masks(masks: Masks, count: int) -> list[pb.Tensor | None]:
    if masks is None:
        return [None] * count
    per_image = list(masks) if isinstance(masks, np.ndarray) and masks.ndim == 3 else masks
    if isinstance(per_image, np.ndarray):
        raise InvalidArgument(f"masks must be (N, H, W) or one per image, got {per_image.shape}")
    if len(per_image) != count:
        raise InvalidArgument(f"masks has {len(per_image)} entries for {count} images")
    tensors: list[pb.Tensor | None] = []
    for index, mask in enumerate(per_image):
        if mask is None:
            tensors.append(None)
            continue
        array = np.asarray(mask)
        if array.ndim != 2:
            raise InvalidArgument(f"masks[{index}] must be (H, W), got {array.shape}")
        tensors.append(to_tensor(array.astype(np.uint8) if array.dtype == bool else array))
    return tensors


def assess_request(
    images: Images,
    *,
    model: str,
    methods: Named,
    metrics: Named,
    targets: PerImageInt,
    masks: Masks,
    boxes: Boxes,
    priority: int,
) -> pb.AssessRequest:
    """Build an AssessRequest (see `Named`, `Masks`, `Boxes`)."""
    protos = images_to_proto(images)
    count = len(protos)
    if boxes is not None and len(boxes) != count:
        raise InvalidArgument(f"boxes has {len(boxes)} entries for {count} images")
    per_image_boxes: Sequence[Sequence[Box] | None] = [None] * count if boxes is None else boxes
    items = []
    for index, (image, target, mask, image_boxes) in enumerate(zip(
        protos, _per_image(targets, count, "targets"), _masks(masks, count), per_image_boxes,
        strict=True,
    )):
        item = pb.AssessItem(image=image, target=_optional(target, _int, f"targets[{index}]"))
        if mask is not None:
            item.mask.CopyFrom(mask)
        for box in image_boxes or ():
            if len(box) != 4:
                raise InvalidArgument(f"boxes[{index}]: a box is (x0, y0, x1, y1), got {box}")
            x0, y0, x1, y1 = (_int(v, f"boxes[{index}]") for v in box)
            item.boxes.add(x0=x0, y0=y0, x1=x1, y1=y1)
        items.append(item)
    return pb.AssessRequest(
        model=model,
        items=items,
        methods=[pb.ExplainSpec(method=explain_method(name), params=params_to_proto(params))
                 for name, params in _named(methods, "methods")],
        metrics=[pb.MetricSpec(metric=metric(name), params=params_to_proto(params))
                 for name, params in _named(metrics, "metrics")],
        priority=priority,
    )


