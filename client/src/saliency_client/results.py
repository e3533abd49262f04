"""What the client returns to apps: plain dataclasses of numpy arrays and Python values.

A result that belongs to one image carries that image's `error`; when it is set, the result's
data fields are empty (no explanations, no scores, no adversarial image). `ok` says which case
holds, and `raise_for_error()` turns the error into an exception for code that prefers that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from saliency_client.arrays import ParamValue
from saliency_client.errors import SaliencyError

Array = npt.NDArray[np.generic]
_T = TypeVar("_T")


class _Outcome:
    """`ok` and `raise_for_error()` for a result that may carry an error."""

    error: SaliencyError | None

    @property
    def ok(self) -> bool:
        """True when there is no error."""
        return self.error is None

    def raise_for_error(self) -> None:
        """Raise the error, if there is one.

        Raises:
            SaliencyError: the subclass matching the error's status code.
        """
        if self.error is not None:
            raise self.error


@dataclass(frozen=True)
class ClassScore:
    """One class's score for an image."""

    index: int
    label: str
    logit: float
    probability: float


@dataclass(frozen=True)
class Prediction(_Outcome):
    """The best classes for one image, best first."""

    top: list[ClassScore]
    error: SaliencyError | None = None


# eq=False on results holding arrays: dataclass equality would compare arrays ambiguously.
@dataclass(frozen=True, eq=False)
class ClassExplanation:
    """The explanation of one target class for one image.

    Shape:
        heatmap: (H, W) float32 at the sent image's resolution, raw (not normalised); (0, 0)
            for methods that return an image instead. attributions: (H, W, C) float32.
        image: (H, W, C) float32 in [0, 1]. mask: (H, W).
    """

    target: int
    label: str
    heatmap: Array
    attributions: Array | None = None
    image: Array | None = None
    diagnostics: dict[str, float] = field(default_factory=dict)
    box: tuple[int, int, int, int] | None = None
    """(x0, y0, x1, y1) in pixels of the sent image, x1 and y1 exclusive."""
    mask: Array | None = None


@dataclass(frozen=True, eq=False)
class ExplainResult(_Outcome):
    """The explanations for one image: one per target class asked for."""

    predicted_class: int
    predicted_label: str
    explanations: list[ClassExplanation]
    error: SaliencyError | None = None

    @property
    def heatmap(self) -> Array | None:
        """The first explanation's heatmap, or None when there is none (e.g. on error)."""
        return self.explanations[0].heatmap if self.explanations else None


@dataclass(frozen=True, eq=False)
class AttackResult(_Outcome):
    """One adversarial example and how the model judged it.

    Shape:
        adversarial: (H, W, C) float32 in [0, 1] at the model's input resolution.
    """

    adversarial: Array | None
    label_before: int
    label_after_torch: int
    label_after_onnx: int
    success: bool
    engines_agree: bool
    linf: float
    l2: float
    target_class: int | None
    """The class aimed at, or None for an untargeted attack."""
    eps: float
    error: SaliencyError | None = None


@dataclass(frozen=True)
class ModelInfo:
    """A model in the server's repository."""

    name: str
    architecture: str
    input_height: int
    input_width: int
    input_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels: tuple[str, ...]
    default_cam_layer: str
    layers: tuple[str, ...]
    onnx_max_abs_logit_gap: float
    onnx_max_rel_logit_gap: float
    device: str
    ready: bool = True
    """False when the model failed to load on the server; `status` then says why."""
    status: str = ""


@dataclass(frozen=True, eq=False)
class ParamSpec:
    """A parameter a method accepts."""

    name: str
    type: str
    """One of "number", "integer", "text", "flag" or "tensor"."""
    default: ParamValue | None
    minimum: float | None
    maximum: float | None
    choices: tuple[str, ...]
    description: str


@dataclass(frozen=True, eq=False)
class MethodInfo:
    """An explanation or attack method the server offers."""

    name: str
    kind: Literal["explain", "attack"]
    description: str
    params: tuple[ParamSpec, ...]


@dataclass(frozen=True)
class AccuracyCurve:
    """Accuracy under one attack at each ε, judged by torch and by ONNX Runtime."""

    attack: str
    epsilons: list[float]
    accuracy: list[float]
    onnx_accuracy: list[float]


@dataclass(frozen=True)
class SaliencyStability:
    """How much a saliency method's maps change on images an attack flipped."""

    method: str
    attack: str
    eps: float
    spearman: list[float]
    ssim: list[float]
    mean_spearman: float
    mean_ssim: float


@dataclass(frozen=True)
class AutoAttackStage:
    """One attack of an ensemble: images it ran on (those still correct), those it broke, and
    the accuracy after it and every attack before it."""

    attack: str
    attacked: int
    broken: int
    robust_accuracy: float


@dataclass(frozen=True)
class AutoAttackResult:
    """Robust accuracy under an ensemble at one ε: an image counts only if every attack failed.

    `robust` and `broken_by` are per image, in request order; `broken_by` is None where no
    attack broke the image (robust, or already misclassified clean).
    """

    eps: float
    robust_accuracy: float
    onnx_robust_accuracy: float
    stages: list[AutoAttackStage]
    robust: list[bool]
    broken_by: list[str | None]


@dataclass(frozen=True)
class EvaluateReport:
    """A robustness report over a labelled batch; `autoattack` has one result per ε asked."""

    clean_accuracy: float
    curves: list[AccuracyCurve]
    stability: list[SaliencyStability]
    autoattack: list[AutoAttackResult] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class MetricInfo:
    """A metric `assess` computes."""

    name: str
    family: str
    """"faithfulness", "randomisation", "robustness", "localisation" or "complexity"."""
    description: str
    params: tuple[ParamSpec, ...]
    higher_is_better: bool
    needs_ground_truth: bool
    """It needs masks or boxes; images without them score NaN."""
    per_map: bool
    """`explain(..., assess="name")` may ask for it, into each map's diagnostics."""


@dataclass(frozen=True, eq=False)
class MetricResult:
    """One metric of one method: per image (in request order), and its mean over the images
    where it is defined (NaN values mean undefined: no ground truth, a map of zeros).

    `curves` holds the curve behind each image's value where there is one (deletion,
    insertion, ROAD: against the fraction of pixels removed, `curve_x`; model randomisation:
    against the checkpoints, named in `curve_labels` by the last layer re-initialised).
    """

    name: str
    settings: dict[str, ParamValue | None]
    values: list[float]
    mean: float
    higher_is_better: bool
    curve_x: list[float] = field(default_factory=list)
    curve_labels: list[str] = field(default_factory=list)
    curves: list[list[float]] = field(default_factory=list)
    mean_curve: list[float] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class MethodAssessment:
    """Every metric of one method, in the order they were asked for."""

    method: str
    params: dict[str, ParamValue | None]
    metrics: list[MetricResult]

    def metric(self, name: str) -> MetricResult:
        """The first result of metric `name`.

        Raises:
            KeyError: no such metric was assessed.
        """
        return _first(self.metrics, name, lambda result: result.name)


@dataclass(frozen=True, eq=False)
class AssessReport:
    """How far each method's maps can be trusted: per image, the class assessed; per method,
    every metric."""

    targets: list[int]
    methods: list[MethodAssessment]

    def method(self, name: str) -> MethodAssessment:
        """The first assessment of method `name`.

        Raises:
            KeyError: no such method was assessed.
        """
        return _first(self.methods, name, lambda assessment: assessment.method)

    def means(self) -> dict[str, dict[str, float]]:
        """method → metric → mean, the method × metric table."""
        return {m.method: {r.name: r.mean for r in m.metrics} for m in self.methods}


@dataclass(frozen=True, eq=False)
class ExplainStreamResult(_Outcome):
    """The answer to one request of an explain stream.

    `error` is the whole request's (unknown model, bad parameter); each image's own error is in
    its `ExplainResult`.
    """

    request_id: str
    results: list[ExplainResult]
    error: SaliencyError | None = None


def _first(items: Sequence[_T], name: str, key: Callable[[_T], str]) -> _T:
    for item in items:
        if key(item) == name:
            return item
    raise KeyError(name)
