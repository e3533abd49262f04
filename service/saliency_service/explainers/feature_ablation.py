"""Feature ablation over segments: how much the score drops when one segment is hidden.

The segment-wise form of occlusion (M. D. Zeiler, R. Fergus, ECCV 2014) that Captum calls
`FeatureAblation` with a feature mask: `φ_k = f(x) − f(x with segment k replaced by x')`, one
forward pass per segment. Every pixel's value is its segment's drop.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from saliency_service.explainers._masking import (
    FORWARD,
    HIDE_PARAMS,
    SEED,
    Forward,
    forward_of,
    paint,
    score_coalitions,
    score_param,
)
from saliency_service.explainers._reference import baselines
from saliency_service.explainers._segments import SEGMENT_PARAMS, priced_segments, segment
from saliency_service.explainers.base import ExplainerSpec, Explanation


def feature_ablation(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
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
    """The drop of the target's score when each segment alone is hidden.

    Args are LIME's (`lime.lime`) without its sampling; `seed` only seeds a 'uniform' baseline.

    Returns:
        heatmap (positive where hiding the segment lowers the score); diagnostic "segments".

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
    # Row 0 keeps everything; row k + 1 hides segment k alone.
    rows = [torch.cat([torch.ones(1, k, dtype=torch.bool), ~torch.eye(k, dtype=torch.bool)])
            for k in counts.tolist()]  # fmt: skip
    scores = score_coalitions(
        forward_of(model, forward), images, references, labels, rows, targets,
        score=score, chunk_size=chunk_size,
    )  # fmt: skip
    drops = [y[0] - y[1:] for y in scores]
    return Explanation(heatmap=paint(drops, labels), diagnostics={"segments": counts.float().cpu()})


def _passes(params: Mapping[str, object], shape: tuple[int, int, int]) -> float:
    return FORWARD * (priced_segments(params, shape) + 1)


FEATURE_ABLATION = ExplainerSpec(
    name="feature_ablation",
    function=feature_ablation,
    params=(*SEGMENT_PARAMS, *HIDE_PARAMS, SEED, score_param("logit")),
    description="the drop in the class score when each superpixel alone is hidden; one "
    "forward pass per segment",
    passes=_passes,
    forward_only=True,
)
