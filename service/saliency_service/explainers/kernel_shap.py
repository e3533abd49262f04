"""KernelSHAP over superpixels: Shapley values of the segments by weighted linear regression.

S. Lundberg, S.-I. Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017,
Theorem 2: the Shapley kernel `π(z) = (K − 1) / (C(K, |z|) |z| (K − |z|))` makes the weighted
least-squares surrogate's coefficients the Shapley values; its infinite weight on the empty and
the full coalition fixes the intercept to f(x') and the sum to f(x) − f(x') (efficiency), which
the fit imposes exactly (`_surrogate.shapley`).
- When all `2^K − 2` proper coalitions fit in `samples`, they are all evaluated with their exact
  kernel weights, and the result is the exact Shapley values.
- Otherwise coalitions are drawn from the kernel (a size s with probability ∝ 1/(s(K − s)),
  then s segments uniformly, as Captum's KernelShap does) with unit weights, each followed by
  its complement (paired sampling: the kernel is symmetric in s ↔ K − s, so the distribution is
  unchanged and the estimate's variance drops; I. Covert, S.-I. Lee, AISTATS 2021).
A hidden segment shows the reference x' (black by default); every pixel's value is its
segment's Shapley value.
"""

from __future__ import annotations

import itertools
import math
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


def kernel_shap(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    samples: int = 1000,
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
    """The Shapley value of each segment for the target's score, painted over the segment.

    Args are LIME's (`lime.lime`), without its kernel and penalty: `samples` coalitions per
    image besides the image and its reference.

    Returns:
        heatmap; diagnostics "score_delta" (`f(x) − f(x')`, which the segments' values sum
        to), "completeness_gap" (their sum minus it, rounding only), "segments" (K) and
        "enumerated" (1 when every coalition was evaluated: exact Shapley values).

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
    drawn = [coalitions(count, samples, seed) for count in counts.tolist()]
    ends = [torch.stack([torch.ones(k, dtype=torch.bool), torch.zeros(k, dtype=torch.bool)])
            for k in counts.tolist()]  # fmt: skip
    scores = score_coalitions(
        forward_of(model, forward), images, references, labels,
        [torch.cat([end, z]) for end, (z, _) in zip(ends, drawn, strict=True)], targets,
        score=score, chunk_size=chunk_size,
    )  # fmt: skip
    values, deltas, gaps = [], [], []
    for (z, weights), y in zip(drawn, scores, strict=True):
        full, empty = float(y[0]), float(y[1])
        fit = _surrogate.shapley(z, y[2:], weights, full, empty)
        values.append(fit.coefficients)
        deltas.append(full - empty)
        gaps.append(float(fit.coefficients.sum()) - (full - empty))
    return Explanation(
        heatmap=paint(values, labels),
        diagnostics={
            "score_delta": torch.tensor(deltas),
            "completeness_gap": torch.tensor(gaps),
            "segments": counts.float().cpu(),
            "enumerated": torch.tensor([float(2**k - 2 <= samples) for k in counts.tolist()]),
        },
    )


def coalitions(count: int, samples: int, seed: int) -> tuple[Tensor, Tensor]:
    """The proper coalitions of `count` segments to evaluate, and their regression weights.

    Shape:
        returns (S, count) booleans and (S,) float64 weights.
    """
    if count < 2:
        return torch.zeros(0, count, dtype=torch.bool), torch.zeros(0, dtype=torch.float64)
    if 2**count - 2 <= samples:
        every = torch.tensor(list(itertools.product((False, True), repeat=count)))[1:-1]
        size = every.sum(dim=1)
        weight = torch.tensor([
            (count - 1) / (math.comb(count, s) * s * (count - s)) for s in size.tolist()
        ], dtype=torch.float64)  # fmt: skip
        return every, weight
    draws = generator(seed)
    sizes = torch.arange(1, count, dtype=torch.float64)
    chosen = 1 + torch.multinomial(1 / (sizes * (count - sizes)), (samples + 1) // 2,
                                   replacement=True, generator=draws)  # fmt: skip
    ranks = torch.rand(len(chosen), count, generator=draws).argsort(dim=1).argsort(dim=1)
    half = ranks < chosen[:, None]
    paired = torch.stack([half, ~half], dim=1).flatten(0, 1)[:samples]
    return paired, torch.ones(len(paired), dtype=torch.float64)


def _passes(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return FORWARD * (cast(int, params["samples"]) + 2)


KERNEL_SHAP = ExplainerSpec(
    name="kernel_shap",
    function=kernel_shap,
    params=(
        Param(
            "samples",
            "integer",
            1000,
            "coalitions of segments per image, besides the image and its baseline; when all "
            "2^K − 2 fit, all are evaluated (exact Shapley values)",
            minimum=1,
            maximum=20000,
        ),
        *SEGMENT_PARAMS,
        *HIDE_PARAMS,
        SEED,
        score_param("logit"),
    ),
    description="Shapley values of superpixels by the Shapley-kernel weighted regression "
    "(Lundberg & Lee 2017); they sum to f(x) − f(baseline)",
    passes=_passes,
    forward_only=True,
)
