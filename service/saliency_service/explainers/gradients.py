"""Plain-gradient explanations: vanilla gradient, squared gradient, input × gradient.

Vanilla gradient: K. Simonyan, A. Vedaldi, A. Zisserman, "Deep Inside Convolutional Networks:
Visualising Image Classification Models and Saliency Maps", ICLR workshop 2014
(arXiv:1312.6034), §3.1. Squared gradient is the sensitivity analysis of G. Montavon, W. Samek,
K.-R. Müller, "Methods for Interpreting and Understanding Deep Neural Networks", Digital Signal
Processing 2018 (arXiv:1706.07979). Input × gradient: A. Shrikumar et al., "Not Just a
Black Box: Learning Important Features Through Propagating Activation Differences", 2016
(arXiv:1605.01713).
"""

from __future__ import annotations

from torch import Tensor, nn

from saliency_service.explainers._autograd import gradients_and_logits
from saliency_service.explainers._params import reduce_param
from saliency_service.explainers._reduce import reduce_channels
from saliency_service.explainers.base import ExplainerSpec, Explanation


def vanilla_gradient(
    model: nn.Module,
    images: Tensor,
    targets: Tensor | None,
    *,
    reduce: str = "abs_max",
    chunk_size: int | None = None,
) -> Explanation:
    """The gradient of the target logit w.r.t. the input pixels, `∇_x f_c(x)`.

    Args:
        model: maps pixels in [0, 1] to logits.
        images: the batch, in [0, 1].
        targets: one class per image; None for the class the model predicts.
        reduce: channel reduction for the heatmap (see `reduce_channels`).
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        attributions: the raw gradient; heatmap: its channel reduction.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W); attributions (N, C, H, W).
    """
    gradient, logits = gradients_and_logits(model, images, targets, chunk_size)
    return Explanation(
        heatmap=reduce_channels(gradient, reduce), attributions=gradient, logits=logits
    )


def squared_gradient(
    model: nn.Module,
    images: Tensor,
    targets: Tensor | None,
    *,
    reduce: str = "sum",
    chunk_size: int | None = None,
) -> Explanation:
    """Sensitivity analysis, `(∂f_c/∂x_i)²`.

    The default "sum" over channels makes a pixel's value the squared norm of its gradient, as
    Montavon et al. (2018) pool the colour channels of one pixel.

    Args:
        model: maps pixels in [0, 1] to logits.
        images: the batch, in [0, 1].
        targets: one class per image; None for the class the model predicts.
        reduce: channel reduction for the heatmap (see `reduce_channels`).
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        attributions: the squared gradient; heatmap: its channel reduction.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W); attributions (N, C, H, W).
    """
    gradient, logits = gradients_and_logits(model, images, targets, chunk_size)
    squared = gradient.square()
    return Explanation(
        heatmap=reduce_channels(squared, reduce), attributions=squared, logits=logits
    )


def input_x_gradient(
    model: nn.Module,
    images: Tensor,
    targets: Tensor | None,
    *,
    reduce: str = "sum",
    chunk_size: int | None = None,
) -> Explanation:
    """Input times gradient, `x ⊙ ∇_x f_c(x)`, in pixel space [0, 1].

    Args:
        model: maps pixels in [0, 1] to logits.
        images: the batch, in [0, 1].
        targets: one class per image; None for the class the model predicts.
        reduce: channel reduction for the heatmap (see `reduce_channels`).
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        attributions: `x ⊙ ∇`; heatmap: its channel reduction.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W); attributions (N, C, H, W).
    """
    gradient, logits = gradients_and_logits(model, images, targets, chunk_size)
    attributions = images * gradient
    return Explanation(
        heatmap=reduce_channels(attributions, reduce), attributions=attributions, logits=logits
    )


VANILLA_GRADIENT = ExplainerSpec(
    name="vanilla_gradient",
    function=vanilla_gradient,
    params=(reduce_param("abs_max"),),
    description="gradient of the class score w.r.t. the pixels (Simonyan et al. 2014)",
    attributions=True,
    predicts=True,
)
SQUARED_GRADIENT = ExplainerSpec(
    name="squared_gradient",
    function=squared_gradient,
    params=(reduce_param("sum"),),
    description="squared gradient, sensitivity analysis (Montavon et al. 2018)",
    attributions=True,
    predicts=True,
)
INPUT_X_GRADIENT = ExplainerSpec(
    name="input_x_gradient",
    function=input_x_gradient,
    params=(reduce_param("sum"),),
    description="pixels times the gradient (Shrikumar et al. 2016)",
    attributions=True,
    predicts=True,
)
