"""Parameters that several explainers' records share: reduction, smoothing, reference, layer."""

from __future__ import annotations

from saliency_service.explainers._reduce import REDUCTIONS
from saliency_service.explainers._reference import BASELINES
from saliency_service.params import Param


def reduce_param(default: str) -> Param:
    """The `reduce` parameter (see `reduce_channels`), defaulting to `default`."""
    return Param(
        "reduce",
        "text",
        default,
        "how the channels of the attributions collapse into the heatmap: max or mean of |·|, "
        "mean, or sum",
        choices=REDUCTIONS,
    )


SMOOTHING = (
    Param("samples", "integer", 50, "noisy copies per image", minimum=1, maximum=1024),
    Param(
        "noise",
        "number",
        0.15,
        "noise standard deviation as a fraction of the image's value range (x_max − x_min)",
        minimum=0.0,
        maximum=1.0,
    ),
    Param(
        "seed",
        "integer",
        0,
        "seeds the random noise; each image gets the same noise whatever else is in the batch",
        minimum=0,
        maximum=2**31 - 1,
    ),
)
REFERENCE = (
    Param(
        "baseline",
        "text",
        "black",
        "the reference image x': black (zeros), blurred input, uniform noise, or given",
        choices=BASELINES,
    ),
    Param(
        "blur_sigma",
        "number",
        5.0,
        "Gaussian blur of the 'blurred' baseline, in pixels",
        minimum=0.1,
        maximum=64.0,
    ),
    Param("seed", "integer", 0, "seeds the 'uniform' baseline", minimum=0, maximum=2**31 - 1),
    Param(
        "baseline_image",
        "tensor",
        None,
        "the 'given' baseline: (H, W, C) float32 pixels in [0, 1] at the model's input size",
    ),
)
LAYER = Param(
    name="layer",
    kind="layer",
    default=None,
    description="module whose feature map is explained (GetModel lists them); "
    "the model's default CAM layer when empty",
)
