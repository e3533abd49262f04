"""Infidelity and faithfulness correlation: does the map predict how the score changes when
the input is perturbed at random?

Infidelity: C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye, P. Ravikumar, "On the
(In)fidelity and Sensitivity of Explanations", NeurIPS 2019, eq. 1: the mean over random
perturbations I of (Σ I ⊙ Φ − (f(x) − f(x − I)))², with I Gaussian noise or a random black
square (their "noisy baseline" and "square removal"). A map is judged up to its scale: with
`normalize` (the default), Φ is first multiplied by the β that minimises the mean (their §4,
Captum's `normalize=True`). Lower is better.

Faithfulness correlation: U. Bhatt, A. Weller, J. M. F. Moura, "Evaluating and Aggregating
Feature-based Model Explanations", IJCAI 2020, eq. 3: the Pearson correlation, over random
subsets S of `subset_size` pixels, between Σ_{p∈S} Φ_p and f(x) − f(x with S replaced). Higher
is better.

f is the explained class's logit (the quantity the maps explain). A 2-D map weighs every
channel of its pixel alike. Sample k of every image draws from the same seeded generator.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from saliency_service.assessment._perturb import BLUR_SIGMA, SEED, fill_of, replacement_param
from saliency_service.assessment.base import (
    Builder,
    Params,
    Result,
    Scores,
    integer,
    number,
    sample_generator,
    text,
)
from saliency_service.assessment.similarity import pearson_correlation
from saliency_service.errors import InvalidRequest
from saliency_service.params import Param

PERTURBATIONS = ("gaussian", "square")
INFIDELITY_PARAMS = (
    Param("samples", "integer", 32, "random perturbations per image", minimum=2, maximum=1024),
    Param("perturbation", "text", "gaussian",
          "Gaussian noise, or a random square set to black", choices=PERTURBATIONS),
    Param("noise", "number", 0.1, "standard deviation of the Gaussian perturbation",
          minimum=0.0, maximum=1.0),
    Param("window", "integer", 16, "side of the square perturbation, in pixels",
          minimum=1, maximum=4096),
    Param("normalize", "flag", True, "scale the map by the β that minimises infidelity"),
    SEED,
)
CORRELATION_PARAMS = (
    Param("runs", "integer", 100, "random pixel subsets per image", minimum=2, maximum=4096),
    Param("subset_size", "integer", 224, "pixels per subset", minimum=1, maximum=2**24),
    replacement_param("black"),
    BLUR_SIGMA,
    SEED,
)


def infidelity_rows(params: Params, _pixels: int) -> int:
    return integer(params, "samples")


def correlation_rows(params: Params, _pixels: int) -> int:
    return integer(params, "runs")


def check_subset(params: Params, pixels: int) -> None:
    if integer(params, "subset_size") > pixels:
        raise InvalidRequest(
            f"faithfulness_correlation: subset_size {integer(params, 'subset_size')} is more "
            f"than the {pixels} pixels of the model's input"
        )


def perturbation(images: Tensor, k: int, params: Params) -> Tensor:
    """Perturbation k of each image: x − I is the input scored.

    Shape:
        images: (N, C, H, W); returns (N, C, H, W).
    """
    generator = sample_generator(integer(params, "seed"), k)
    shape = images.shape[1:]
    if text(params, "perturbation") == "gaussian":
        noise = torch.randn(shape, generator=generator, dtype=torch.float64)
        return (number(params, "noise") * noise).to(images).expand_as(images)
    height, width = shape[1:]
    side = min(integer(params, "window"), height, width)
    top = int(torch.randint(height - side + 1, (1,), generator=generator))
    left = int(torch.randint(width - side + 1, (1,), generator=generator))
    square = torch.zeros_like(images)
    square[..., top : top + side, left : left + side] = 1.0
    return images * square


def _perturbed(image: Tensor, k: int, params: Params) -> Tensor:
    return image - perturbation(image[None], k, params)[0]


def infidelity_inputs(image: Tensor, heatmap: Tensor, params: Params) -> list[Builder]:
    """x − I_k for each perturbation k.

    Shape:
        image: (C, H, W); heatmap: (H, W).
    """
    return [partial(_perturbed, image, k, params) for k in range(integer(params, "samples"))]


def infidelity(
    images: Tensor, heatmaps: Tensor, clean: Scores, perturbed: Scores, params: Params
) -> Result:
    """Yeh et al.'s infidelity of each map, optionally at its best scale.

    Shape:
        images: (N, C, H, W); heatmaps: (N, H, W); clean: (N,); perturbed: (N, S).
    """
    maps = heatmaps.double()
    explained = torch.stack(
        [
            torch.einsum("nchw,nhw->n", perturbation(images.double(), k, params), maps)
            for k in range(perturbed.logit.shape[1])
        ],
        dim=1,
    )
    change = clean.logit[:, None] - perturbed.logit
    if params["normalize"]:
        denominator = explained.square().mean(dim=1)
        beta = (explained * change).mean(dim=1) / denominator.where(denominator > 0, 1.0)
        explained = beta[:, None] * explained
    return Result((explained - change).square().mean(dim=1))


def subset(pixels: int, k: int, params: Params) -> Tensor:
    """Subset k: `subset_size` distinct pixel indices (raster order), (subset_size,) int64."""
    order = torch.randperm(pixels, generator=sample_generator(integer(params, "seed"), k))
    return order[: integer(params, "subset_size")]


def _replaced_subset(image: Tensor, replacement: Tensor, k: int, params: Params) -> Tensor:
    height, width = image.shape[1:]
    removed = torch.zeros(height * width, dtype=torch.bool)
    removed[subset(height * width, k, params)] = True
    return torch.where(removed.view(height, width).to(image.device), replacement, image)


def correlation_inputs(image: Tensor, heatmap: Tensor, params: Params) -> list[Builder]:
    """The image with subset k replaced, for each run k."""
    replacement = fill_of(image, params)
    return [
        partial(_replaced_subset, image, replacement, k, params)
        for k in range(integer(params, "runs"))
    ]


def faithfulness_correlation(
    images: Tensor, heatmaps: Tensor, clean: Scores, perturbed: Scores, params: Params
) -> Result:
    """Bhatt et al.'s correlation of each map's subset sums with the score drops.

    Shape:
        heatmaps: (N, H, W); clean: (N,); perturbed: (N, R).
    """
    flat = heatmaps.flatten(1).double()
    runs = perturbed.logit.shape[1]
    sums = torch.stack([flat[:, subset(flat.shape[1], k, params)].sum(dim=1)
                        for k in range(runs)], dim=1)
    drops = clean.logit[:, None] - perturbed.logit
    return Result(pearson_correlation(sums, drops))
