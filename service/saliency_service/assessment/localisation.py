"""Does the map fall on the object? Measured against a ground-truth mask (or boxes, drawn as
one). Higher is better for all four; an image without a mask, or with an empty one, scores NaN.

- Pointing game: J. Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV
  2016: 1 if a pixel where the map peaks lies inside the mask, else 0 (no tolerance margin).
- Relevance mass accuracy: L. Arras, A. Osman, W. Samek, "CLEVR-XAI", Information Fusion 2022:
  the share of the map's sum that lies inside the mask.
- Relevance rank accuracy (same paper): of the K highest-ranked pixels, K the mask's size, the
  share inside the mask (ties in raster order).
- Energy-based pointing game: H. Wang et al., "Score-CAM", CVPRW 2020, §4.2: the share of the
  map's positive part (its "energy") inside the mask.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from saliency_service.assessment.base import Params, Result


def _flat(heatmaps: Tensor, masks: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    maps = heatmaps.flatten(1).double()
    inside = masks.flatten(1).to(maps.device)
    return maps, inside, inside.sum(dim=1) == 0


def _undefined_where(values: Tensor, empty: Tensor) -> Tensor:
    return values.masked_fill(empty, math.nan)


def pointing_game(heatmaps: Tensor, masks: Tensor, _params: Params) -> Result:
    """Shape: heatmaps (N, H, W); masks (N, H, W) bool; values (N,)."""
    maps, inside, empty = _flat(heatmaps, masks)
    peaks = maps == maps.amax(dim=1, keepdim=True)
    return Result(_undefined_where((peaks & inside).any(dim=1).double(), empty))


def relevance_mass(heatmaps: Tensor, masks: Tensor, _params: Params) -> Result:
    """Σ_inside Φ / Σ Φ."""
    maps, inside, empty = _flat(heatmaps, masks)
    return Result(_undefined_where((maps * inside).sum(dim=1) / maps.sum(dim=1), empty))


def relevance_rank(heatmaps: Tensor, masks: Tensor, _params: Params) -> Result:
    """|top-K pixels ∩ mask| / K with K = |mask|."""
    maps, inside, empty = _flat(heatmaps, masks)
    order = torch.argsort(-maps, dim=1, stable=True)
    sizes = inside.sum(dim=1)
    ranked_inside = inside.gather(1, order)
    within_top = torch.arange(maps.shape[1], device=maps.device)[None] < sizes[:, None]
    hits = (ranked_inside & within_top).sum(dim=1).double()
    return Result(_undefined_where(hits / sizes.clamp_min(1), empty))


def energy_pointing_game(heatmaps: Tensor, masks: Tensor, _params: Params) -> Result:
    """Σ_inside max(Φ, 0) / Σ max(Φ, 0)."""
    maps, inside, empty = _flat(heatmaps, masks)
    energy = maps.clamp_min(0)
    return Result(_undefined_where((energy * inside).sum(dim=1) / energy.sum(dim=1), empty))


def boxes_mask(boxes: list[tuple[int, int, int, int]], height: int, width: int) -> Tensor:
    """A mask that is True inside any of the boxes (x0, y0, x1, y1; x1, y1 exclusive).

    Shape:
        returns (height, width) bool.
    """
    mask = torch.zeros(height, width, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask
