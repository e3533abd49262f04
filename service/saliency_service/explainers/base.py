"""What every explainer returns, and how the registry describes one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor, nn

from saliency_service.params import Param


@dataclass
class Explanation:
    """An explainer's output for a batch; row i belongs to images[i] and targets[i].

    Shape:
        heatmap: (N, H, W) at the input's resolution, raw (not normalised).
        attributions: (N, C, H, W) per-pixel, per-channel values, for methods that have them.
        image: (N, C, H, W) in [0, 1], for methods whose result is an image.
        diagnostics: name -> (N,), e.g. "completeness_gap" for Integrated Gradients.
    """

    heatmap: Tensor
    attributions: Tensor | None = None
    image: Tensor | None = None
    diagnostics: dict[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class ExplainerSpec:
    """A registry entry. `function(model, images, targets, **params) -> Explanation`.

    `params` are the resolved values of `self.params`; a parameter of kind "layer" arrives as the
    `nn.Module` it names (the model's default CAM layer when the request names none).
    `check_model(model)`, where set, raises `UnsupportedMethod` for a model the method cannot
    apply to, cheaply and before any compute, so that the request can be refused as a whole.
    """

    name: str
    function: Callable[..., Explanation]
    params: tuple[Param, ...]
    description: str
    check_model: Callable[[nn.Module], None] | None = None
