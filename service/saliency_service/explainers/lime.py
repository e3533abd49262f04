"""LIME over superpixels: a weighted linear surrogate fitted to the scores of perturbed copies.

M. T. Ribeiro, S. Singh, C. Guestrin, "'Why Should I Trust You?': Explaining the Predictions of
Any Classifier", KDD 2016, §3.3 and §3.4 (images: superpixels as the interpretable features,
eq. 2 with a linear g). Each sample keeps each segment with probability ½ (LIME's image
explainer); the first sample is the image itself. A sample z is weighted by
`π(z) = √exp(−d(z)² / σ²) = exp(−d(z)² / 2σ²)` (the `lime` package's image kernel), d the cosine
distance between z and the all-ones vector of the image, `1 − √(|z| / K)`, and σ the kernel
width (LIME's 0.25). The surrogate is LIME's ridge
regression with an unpenalised intercept (`_surrogate.ridge`), fitted per image on the server;
its weighted R² is reported as `surrogate_r2`. Every pixel's value is its segment's coefficient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from saliency_service.explainers import _surrogate
from saliency_service.explainers._masking import (
    FORWARD,
    HIDE_PARAMS,
    SEED,
    Forward,
    forward_of,
    generator,
    paint,
    score_coalitions,
    score_param,
)
from saliency_service.explainers._reference import baselines
from saliency_service.explainers._segments import SEGMENT_PARAMS, segment
from saliency_service.explainers.base import ExplainerSpec, Explanation
from saliency_service.params import Param


def lime(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    samples: int = 1000,
    kernel_width: float = 0.25,
    ridge: float = 1.0,
    segmentation: str = "slic",
    segments: int = 50,
    compactness: float = 10.0,
    feature_mask: Tensor | np.ndarray | None = None,
    baseline: str = "black",
    blur_sigma: float = 5.0,
    baseline_image: Tensor | np.ndarray | None = None,
    seed: int = 0,
    score: str = "logit",
    chunk_size: int | None = None,
    forward: Forward | None = None,
) -> Explanation:
    """LIME's surrogate coefficient of each segment, painted over it.

    Args:
        model: pixels in [0, 1] to logits.
        images: the batch, in [0, 1].
        targets: one class per image.
        samples: perturbed copies per image, the image itself first.
        kernel_width: σ of the exponential kernel on the cosine distance.
        ridge: the surrogate's L2 penalty α.
        segmentation, segments, compactness, feature_mask: the features (`_segments.segment`).
        baseline, blur_sigma, baseline_image: what a hidden segment shows
            (`_reference.baselines`).
        seed: seeds the samples (and a 'uniform' baseline).
        score: "logit" or "probability" of the target class.
        chunk_size: copies per forward pass.
        forward: what runs the passes instead of `model` (its ONNX Runtime session).

    Returns:
        heatmap; diagnostics "surrogate_r2", "intercept" and "segments" (K per image).

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W).
    """
    labels, counts = segment(
        images, segmentation, segments=segments, compactness=compactness,
        feature_mask=feature_mask,
    )  # fmt: skip
    references = baselines(
        images, baseline, blur_sigma=blur_sigma, seed=seed, baseline_image=baseline_image
    )
    coalitions = []
    for count in counts.tolist():
        draws = torch.rand(samples, count, generator=generator(seed)) < 0.5
        draws[0] = True  # the image itself, as LIME's explainer does
        coalitions.append(draws)
    scores = score_coalitions(
        forward_of(model, forward), images, references, labels, coalitions, targets,
        score=score, chunk_size=chunk_size,
    )  # fmt: skip
    fits = [
        _surrogate.ridge(z, y, kernel(z, kernel_width), ridge)
        for z, y in zip(coalitions, scores, strict=True)
    ]
    return Explanation(
        heatmap=paint([fit.coefficients for fit in fits], labels),
        diagnostics={
            "surrogate_r2": torch.tensor([fit.r2 for fit in fits]),
            "intercept": torch.tensor([fit.intercept for fit in fits]),
            "segments": counts.float().cpu(),
        },
    )


def kernel(coalitions: Tensor, width: float) -> Tensor:
    """`exp(−d² / 2σ²)`, d the cosine distance from each coalition to all segments kept.

    Shape:
        coalitions: (S, K) booleans; returns (S,) float64.
    """
    kept = coalitions.double().sum(dim=1)
    distance = 1.0 - (kept / coalitions.shape[1]).sqrt()
    return torch.exp(-distance.square() / (2 * width**2))


def _passes(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return FORWARD * cast(int, params["samples"])


LIME = ExplainerSpec(
    name="lime",
    function=lime,
    params=(
        Param("samples", "integer", 1000, "perturbed copies per image", minimum=2, maximum=20000),
        Param(
            "kernel_width",
            "number",
            0.25,
            "σ of the sample weights exp(−d²/2σ²), d the cosine distance to the image",
            minimum=0.01,
            maximum=100.0,
        ),
        Param("ridge", "number", 1.0, "the surrogate's L2 penalty α", minimum=0.0, maximum=1e6),
        *SEGMENT_PARAMS,
        *HIDE_PARAMS,
        SEED,
        score_param("logit"),
    ),
    description="a weighted linear surrogate over superpixels kept or hidden (Ribeiro et al. "
    "2016); reports its R²",
    passes=_passes,
    forward_only=True,
)
