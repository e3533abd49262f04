"""Saliency-based localisation (Simonyan et al. 2014, "Deep Inside Convolutional Networks",
https://arxiv.org/abs/1312.6034, §3.2): threshold the map and box its largest connected
foreground component.

Foreground is `heatmap >= threshold · max(heatmap)` and `heatmap > 0`, per image, so a map with
no positive value has no foreground: an empty mask and the box (0, 0, 0, 0). Components are
8-connected (diagonal neighbours join). Of equal-sized largest components, the one whose last
pixel in raster order comes first wins. Simonyan et al. seed a GraphCut colour segmentation with
the thresholded map; the service returns the thresholded component itself.

Connected components are labelled in torch on the map's device: every foreground pixel starts
with its own label (its raster index + 1), then repeatedly takes the largest label among its 3x3
foreground neighbours (a max-pool) and jumps to the label its label's pixel holds (pointer
jumping), until nothing changes. Each component ends labelled by its largest raster index.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def box_from_map(heatmap: Tensor, threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """Bounding box and mask of the largest connected foreground component of each map.

    Args:
        heatmap: raw maps (any scale; only their order and sign matter).
        threshold: the foreground's lower bound as a fraction of each map's maximum, in [0, 1].

    Returns:
        boxes: (x0, y0, x1, y1) in pixels, x1 and y1 exclusive, int64.
        masks: the chosen component, bool.

    Shape:
        heatmap: (N, H, W); boxes: (N, 4); masks: (N, H, W).
    """
    n, h, w = heatmap.shape
    peak = heatmap.flatten(1).amax(dim=1)[:, None, None]
    foreground = (heatmap >= threshold * peak) & (heatmap > 0)
    labels = _label_components(foreground)
    flat = labels.flatten(1)
    # Component sizes, per image: one bincount over labels offset by image.
    offsets = torch.arange(n, device=heatmap.device)[:, None] * (h * w + 1)
    sizes = torch.bincount((flat + offsets).flatten(), minlength=n * (h * w + 1))
    sizes = sizes.reshape(n, h * w + 1)
    sizes[:, 0] = 0
    largest = sizes.argmax(dim=1)
    masks = (labels == largest[:, None, None]) & foreground
    return _boxes(masks), masks


def _label_components(foreground: Tensor) -> Tensor:
    """Per-image 8-connected labels: 0 for background, a component's largest raster index + 1.

    Shape:
        foreground: (N, H, W) bool; returns (N, H, W) int64.
    """
    n, h, w = foreground.shape
    indices = torch.arange(1, h * w + 1, device=foreground.device).reshape(1, h, w)
    labels = torch.where(foreground, indices, 0)
    while True:
        # In float64 the max-pool carries integer labels exactly.
        spread = F.max_pool2d(labels[:, None].double(), 3, stride=1, padding=1)[:, 0].long()
        spread = torch.where(foreground, spread, 0)
        flat = spread.flatten(1)
        jumped = flat.gather(1, (flat - 1).clamp_min(0)).reshape(n, h, w)
        spread = torch.where(foreground, torch.maximum(spread, jumped), 0)
        if torch.equal(spread, labels):
            return labels
        labels = spread


def _boxes(masks: Tensor) -> Tensor:
    """(x0, y0, x1, y1), exclusive ends, of each mask; (0, 0, 0, 0) for an empty one.

    Shape:
        masks: (N, H, W) bool; returns (N, 4) int64.
    """
    n, h, w = masks.shape
    rows, columns = masks.any(dim=2), masks.any(dim=1)
    y = torch.arange(h, device=masks.device)
    x = torch.arange(w, device=masks.device)
    y0 = torch.where(rows, y, h).amin(dim=1)
    y1 = torch.where(rows, y + 1, 0).amax(dim=1)
    x0 = torch.where(columns, x, w).amin(dim=1)
    x1 = torch.where(columns, x + 1, 0).amax(dim=1)
    empty = ~rows.any(dim=1)
    boxes = torch.stack([x0, y0, x1, y1], dim=1)
    return torch.where(empty[:, None], torch.zeros_like(boxes), boxes)
