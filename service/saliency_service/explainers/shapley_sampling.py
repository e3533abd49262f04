"""Shapley value sampling over segments: marginal contributions along random orders.

J. Castro, D. Gómez, J. Tejada, "Polynomial calculation of the Shapley value based on
sampling", Computers & Operations Research 2009 (Captum's `ShapleyValueSampling`). For each of
`permutations` random orders of the K segments, start from the reference x' (every segment
hidden), reveal the segments one by one, and credit each with the change of the score it
causes; a segment's value is its mean credit. Every order's credits sum to `f(x) − f(x')`, so
the estimate is efficient exactly; its standard error shrinks as 1/√permutations and is
reported. Each order costs K − 1 forward passes beyond the image and its reference, which are
shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

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
from saliency_service.explainers._segments import SEGMENT_PARAMS, priced_segments, segment
from saliency_service.explainers.base import ExplainerSpec, Explanation
from saliency_service.params import Param


def shapley_sampling(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    permutations: int = 25,
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
    """Each segment's mean marginal contribution over `permutations` random orders.

    Args are LIME's (`lime.lime`), with `permutations` orders instead of samples.

    Returns:
        heatmap; diagnostics "score_delta" (`f(x) − f(x')`, the values' sum), "standard_error"
        (the largest of the segments' standard errors) and "segments".

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
    orders = [
        torch.rand(permutations, k, generator=generator(seed)).argsort(dim=1)
        for k in counts.tolist()
    ]
    scores = score_coalitions(
        forward_of(model, forward), images, references, labels,
        [_chain(order) for order in orders], targets, score=score, chunk_size=chunk_size,
    )  # fmt: skip
    values, errors, deltas = [], [], []
    for order, y in zip(orders, scores, strict=True):
        full, empty = y[:1], y[1:2]
        middle = y[2:].view(permutations, order.shape[1] - 1)
        chain = torch.cat([empty.expand(permutations, 1), middle, full.expand(permutations, 1)], 1)
        # Credit of the j-th revealed segment of each order, put back in segment order.
        credits = torch.zeros(permutations, order.shape[1], dtype=torch.float64)
        credits.scatter_(1, order, chain.diff(dim=1))
        values.append(credits.mean(dim=0))
        spread = credits.std(dim=0, correction=1) if permutations > 1 else credits[0] * 0
        errors.append(float(spread.max()) / permutations**0.5)
        deltas.append(float(full - empty))
    return Explanation(
        heatmap=paint(values, labels),
        diagnostics={
            "score_delta": torch.tensor(deltas),
            "standard_error": torch.tensor(errors),
            "segments": counts.float().cpu(),
        },
    )


def _chain(order: Tensor) -> Tensor:
    """Rows: every segment, none, then for each order its first 1 … K − 1 segments.

    Shape:
        order: (P, K) permutations; returns (2 + P (K − 1), K) booleans.
    """
    permutations, count = order.shape
    rank = order.argsort(dim=1)  # where each segment comes in its order
    steps = torch.arange(1, count)
    revealed = rank[:, None, :] < steps[None, :, None]
    ends = torch.stack([torch.ones(count, dtype=torch.bool), torch.zeros(count, dtype=torch.bool)])
    return torch.cat([ends, revealed.reshape(permutations * (count - 1), count)])


def _passes(params: Mapping[str, object], shape: tuple[int, int, int]) -> float:
    segments = priced_segments(params, shape)
    return FORWARD * (cast(int, params["permutations"]) * max(segments - 1, 0) + 2)


SHAPLEY_SAMPLING = ExplainerSpec(
    name="shapley_sampling",
    function=shapley_sampling,
    params=(
        Param(
            "permutations",
            "integer",
            25,
            "random orders of the segments; each costs (segments − 1) forward passes",
            minimum=1,
            maximum=1000,
        ),
        *SEGMENT_PARAMS,
        *HIDE_PARAMS,
        SEED,
        score_param("logit"),
    ),
    description="Shapley values of superpixels estimated from random orders (Castro et al. "
    "2009); they sum to f(x) − f(baseline); reports the standard error",
    passes=_passes,
    forward_only=True,
)
