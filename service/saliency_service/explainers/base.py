"""What every explainer returns, and the registry record that describes one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import Tensor, nn

from saliency_service.params import Param

# Cost of a method per explained row, in forward+backward passes of the model (a forward-only
# pass counts as a third), from the method's own resolved parameters and the input's (C, H, W).
PassCount = Callable[[Mapping[str, object], tuple[int, int, int]], float]
# A forward-only pass costs about a third of a forward+backward one.
FORWARD = 1 / 3


@dataclass
class Explanation:
    """An explainer's output for a batch; row i belongs to images[i] and targets[i].

    Shape:
        heatmap: (N, H, W) at the input's resolution, raw (not normalised).
        attributions: (N, C, H, W) per-pixel, per-channel values, for methods that have them.
        image: (N, C, H, W) in [0, 1], for methods whose result is an image.
        diagnostics: name -> (N,), e.g. "completeness_gap" for Integrated Gradients.
        logits: (N, classes) the model's logits for each row's image, from the method's own
            forward pass, for methods that choose each row's class themselves (`predicts`).
    """

    heatmap: Tensor
    attributions: Tensor | None = None
    image: Tensor | None = None
    diagnostics: dict[str, Tensor] = field(default_factory=dict)
    logits: Tensor | None = None


def no_check(_params: Mapping[str, object]) -> None:
    """Every combination of valid parameter values is valid."""


def any_model(_model: nn.Module) -> None:
    """The method applies to every model the repository loads."""


def one_pass(_params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    """One forward+backward pass per row: the gradient methods."""
    return 1.0


def forward_pass(_params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    """One forward pass per row, no gradient."""
    return FORWARD


def two_passes(_params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    """Two forward+backward passes per row."""
    return 2.0


@dataclass(frozen=True)
class ExplainerSpec:
    """A registry record: everything the engine and the transport know of a method.

    `function(model, images, targets, **params) -> Explanation`; `params` are the resolved
    values of `self.params`, a parameter of kind "layer" arriving as the `nn.Module` it names
    (the model's default CAM layer when the request names none), plus `chunk_size` (rows per
    pass, from the engine's budgets) when `chunks`.

    `passes` prices one row (operations/cost.py); `check(params)` refuses combinations of
    parameter values that each pass their bounds (raises InvalidRequest); `check_model(model)`
    refuses, cheaply and before any compute, a model the method cannot apply to (raises
    UnsupportedMethod), so that the request is refused as a whole;
    `attributions`: it returns per-pixel, per-channel attributions (`return_attributions`);
    `image`: its result is an image (`Explanation.image`), always returned;
    `forward_only`: it needs nothing of the model but forward passes of whole images (no
    gradients, no layers), so it also runs on models served from an ONNX file alone;
    `forward_passes`: its many passes are forward passes of whole (masked) images, though it
    may need more of the model (Score-CAM reads a layer first). Both take `forward`, what those
    passes run on (the model's ONNX Runtime session where the engine measured it faster).
    `predicts`: it runs the model's own forward pass of each row's image (its gradient pass, or
    IG's completeness check), so given `targets=None` it explains the class that pass predicts
    and returns that pass's logits — the caller then needs no forward pass of its own to find
    the predicted class.
    """

    name: str
    function: Callable[..., Explanation]
    params: tuple[Param, ...]
    description: str
    passes: PassCount = one_pass
    check: Callable[[Mapping[str, object]], None] = no_check
    check_model: Callable[[nn.Module], None] = any_model
    chunks: bool = True
    attributions: bool = False
    image: bool = False
    forward_only: bool = False
    forward_passes: bool = False
    predicts: bool = False

    @property
    def takes_forward(self) -> bool:
        """Whether the function takes `forward`, the module its forward passes run on."""
        return self.forward_only or self.forward_passes

    @property
    def hooks_layer(self) -> bool:
        """Whether it reads a layer of the model (so it must run on the replica as loaded)."""
        return any(p.kind == "layer" for p in self.params)
