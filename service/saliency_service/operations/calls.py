"""What the transport hands to operations: each RPC's request as plain Python, and its caller.

Images are still as sent (encoded bytes or a pixel array): operations price, admit and only then
decode them. An image the transport could not read arrives as its error, so that it fails alone.
Method names are the API's short names ("grad_cam"); parameters are plain values; `version` ""
means the model's default version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from saliency_service.errors import InvalidRequest
from saliency_service.images import RawImage
from saliency_service.params import ParamValue

Params = dict[str, ParamValue]
ImageInput = RawImage | InvalidRequest


@dataclass(frozen=True)
class Caller:
    """The call-level controls of every RPC: who calls (fair shares), how urgently, until when.

    `deadline` is a `time.monotonic()` time, None for none.
    """

    tenant: str = ""
    priority: int = 0
    deadline: float | None = None


@dataclass(frozen=True)
class PredictCall:
    model: str
    images: list[ImageInput]
    top_k: int
    version: str = ""


@dataclass(frozen=True)
class ExplainItem:
    """One image to explain: for its `targets`, else its `top_k` (0: 1) best classes."""

    image: ImageInput
    targets: tuple[int, ...] = ()
    top_k: int = 0


@dataclass(frozen=True)
class ExplainCall:
    model: str
    method: str
    items: list[ExplainItem]
    params: Params = field(default_factory=dict)
    version: str = ""


@dataclass(frozen=True)
class AttackItem:
    """One image to attack; None fields take the request's defaults (predicted label, ε)."""

    image: ImageInput
    label: int | None = None
    target_class: int | None = None
    eps: float | None = None


@dataclass(frozen=True)
class AttackCall:
    model: str
    method: str
    items: list[AttackItem]
    params: Params = field(default_factory=dict)
    version: str = ""


@dataclass(frozen=True)
class EnsembleCall:
    """Robust accuracy under attacks run in turn (AutoAttack's four when `attacks` is empty), at
    each of `epsilons` (the report's largest ε when empty)."""

    attacks: list[tuple[str, Params]] = field(default_factory=list)
    epsilons: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class EvaluateCall:
    """A robustness report: accuracy under each attack at each ε, map stability, and robust
    accuracy under an ensemble (`autoattack`)."""

    model: str
    images: list[ImageInput]
    labels: list[int]
    attacks: list[tuple[str, Params]]
    epsilons: list[float]
    stability_methods: list[str] = field(default_factory=list)
    version: str = ""
    autoattack: EnsembleCall | None = None


@dataclass(frozen=True)
class AssessItem:
    """One image to assess maps of: for its `target` (None: the predicted class), with its
    ground truth for localisation metrics: a mask (H, W) at the image's resolution, nonzero on
    the object, and boxes (x0, y0, x1, y1; x1, y1 exclusive) drawn into it."""

    image: ImageInput
    target: int | None = None
    mask: np.ndarray | InvalidRequest | None = None
    boxes: tuple[tuple[int, int, int, int], ...] = ()


@dataclass(frozen=True)
class AssessCall:
    """Every method's maps of every image, judged by every metric."""

    model: str
    items: list[AssessItem]
    methods: list[tuple[str, Params]]
    metrics: list[tuple[str, Params]]
    version: str = ""
