"""Deletion and insertion: how fast the class probability falls as the pixels the map ranks
highest are removed, and how fast it rises as they are put back into a blurred image.

V. Petsiuk, A. Das, K. Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
Models", BMVC 2018, §4.1. Deletion starts from the image and replaces pixels, a step of
⌈H·W / steps⌉ pixels at a time, by a replacement; insertion starts from the replacement and puts
the image's pixels back in the same order. The replacement is a Gaussian blur of the image by
default, for both (the authors insert into a blur but delete to black): black pixels scattered
over an image draw edges the model reads, so with a black replacement deleting pixels at random
destroys the object's outline faster than deleting the object itself — on the demo model a
random map then scores better than Grad-CAM (bench/assessment.py measures it); a blur removes
information without adding any. The curve is the softmax probability of the explained class
after each step, its x-axis the fraction of pixels removed (inserted), and the score its area,
by the trapezoid rule over [0, 1]. A faithful map makes deletion fall fast (low area, better) and
insertion rise fast (high area, better). Removing the least relevant pixels first ("lerf")
reverses what is better.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from saliency_service.assessment._perturb import (
    BLUR_SIGMA,
    ORDER,
    SEED,
    fill_of,
    removal_ranks,
    replaced,
    replacement_param,
    step_counts,
    trapezoid,
)
from saliency_service.assessment.base import Builder, Params, Result, Scores, integer, text
from saliency_service.params import Param

STEPS = Param(
    "steps", "integer", 50, "removal steps; each removes ⌈H·W / steps⌉ pixels",
    minimum=1, maximum=4096,
)
DELETION_PARAMS = (STEPS, ORDER, replacement_param("blur"), BLUR_SIGMA, SEED)
INSERTION_PARAMS = (STEPS, ORDER, replacement_param("blur"), BLUR_SIGMA, SEED)


def _counts(heatmap: Tensor, params: Params) -> list[int]:
    return step_counts(heatmap.numel(), integer(params, "steps"))


def rows(params: Params, pixels: int) -> int:
    """Forward passes per image beyond the clean one: one per step."""
    return len(step_counts(pixels, integer(params, "steps"))) - 1


def deletion_inputs(image: Tensor, heatmap: Tensor, params: Params) -> list[Builder]:
    """The image after each step of removal (the clean image, step 0, is scored apart).

    Shape:
        image: (C, H, W); heatmap: (H, W).
    """
    ranks = removal_ranks(heatmap, text(params, "order"))
    replacement = fill_of(image, params)
    return [partial(replaced, image, replacement, ranks, n) for n in _counts(heatmap, params)[1:]]


def insertion_inputs(image: Tensor, heatmap: Tensor, params: Params) -> list[Builder]:
    """The replacement after each step of insertion but the last (the clean image itself)."""
    ranks = removal_ranks(heatmap, text(params, "order"))
    start = fill_of(image, params)
    return [partial(replaced, start, image, ranks, n) for n in _counts(heatmap, params)[:-1]]


def _result(curves: Tensor, heatmaps: Tensor, params: Params) -> Result:
    pixels = heatmaps[0].numel()
    x = torch.tensor(_counts(heatmaps[0], params), dtype=torch.float64) / pixels
    return Result(trapezoid(curves, x), curves, x.tolist())


def deletion(
    images: Tensor, heatmaps: Tensor, clean: Scores, steps: Scores, params: Params
) -> Result:
    """Area under the deletion curve; the curve starts at the clean image's probability.

    Shape:
        heatmaps: (N, H, W); clean: (N,); steps: (N, K); curves (N, K + 1).
    """
    curves = torch.cat([clean.probability[:, None], steps.probability], dim=1)
    return _result(curves, heatmaps, params)


def insertion(
    images: Tensor, heatmaps: Tensor, clean: Scores, steps: Scores, params: Params
) -> Result:
    """Area under the insertion curve; the curve ends at the clean image's probability."""
    curves = torch.cat([steps.probability, clean.probability[:, None]], dim=1)
    return _result(curves, heatmaps, params)
