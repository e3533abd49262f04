"""RISE: the score of randomly masked copies, averaged into a map with the masks as weights.

V. Petsiuk, A. Das, K. Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
Models", BMVC 2018, §3 (eq. 6 and the mask generation). N binary grids of `cells × cells`,
each cell kept with probability p, are upsampled bilinearly to `(cells + 1) × cell size` and
cropped at a random shift of up to one cell, so masks are smooth and not aligned to a grid; the
map is `S = Σ_i f(x ⊙ M_i) M_i / (N p)`. Masks multiply the pixels (hidden regions are black)
and are built a chunk at a time from their draws (grids and shifts), which are the same for
every image of a batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliency_service.explainers._masking import (
    FORWARD,
    SEED,
    Forward,
    evaluate,
    forward_of,
    generator,
    score_param,
)
from saliency_service.explainers.base import ExplainerSpec, Explanation
from saliency_service.params import Param


def rise(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    masks: int = 2000,
    cells: int = 7,
    probability: float = 0.5,
    seed: int = 0,
    score: str = "probability",
    chunk_size: int | None = None,
    forward: Forward | None = None,
) -> Explanation:
    """RISE's saliency of each image for its target class.

    Args:
        model: pixels in [0, 1] to logits.
        images: the batch, in [0, 1].
        targets: one class per image.
        masks: random masks per image (N).
        cells: the grid's side (s).
        probability: p, the chance that a cell is kept.
        seed: seeds the grids and shifts.
        score: "probability" (the paper's) or "logit" of the target class.
        chunk_size: masked copies per forward pass.
        forward: what runs the passes instead of `model` (its ONNX Runtime session).

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W).
    """
    n, _, height, width = images.shape
    grids, shifts = draws(masks, cells, probability, seed)
    device = images.device

    def build(rows: slice) -> tuple[Tensor, Tensor]:
        flat = torch.arange(rows.start, rows.stop)
        mask = masks_of(grids[flat % masks], shifts[flat % masks], height, width).to(device)
        owner = (flat // masks).to(device)
        return images[owner] * mask[:, None].to(images.dtype), targets[owner]

    scores = evaluate(
        forward_of(model, forward), build, n * masks, score=score, chunk_size=chunk_size
    ).view(n, masks)
    heatmap = images.new_zeros(n, height, width, dtype=torch.float32)
    step = chunk_size or 64
    for start in range(0, masks, step):
        index = torch.arange(start, min(start + step, masks))
        mask = masks_of(grids[index], shifts[index], height, width).to(device)
        heatmap += torch.einsum("nm,mhw->nhw", scores[:, index].to(device), mask)
    return Explanation(heatmap=heatmap / (masks * probability))


def draws(masks: int, cells: int, probability: float, seed: int) -> tuple[Tensor, Tensor]:
    """The random part of RISE's masks: the kept cells and each mask's shift in [0, 1) cells.

    Shape:
        returns grids (masks, cells, cells) float32 in {0, 1} and shifts (masks, 2) float32.
    """
    source = generator(seed)
    grids = (torch.rand(masks, cells, cells, generator=source) < probability).float()
    return grids, torch.rand(masks, 2, generator=source)


def masks_of(grids: Tensor, shifts: Tensor, height: int, width: int) -> Tensor:
    """The smooth masks of `draws`: each grid upsampled bilinearly to `(cells + 1)` cells of
    ⌈size / cells⌉ pixels (align_corners=False), cropped to (height, width) at its shift.

    Shape:
        grids: (M, s, s); shifts: (M, 2); returns (M, height, width).
    """
    cells = grids.shape[-1]
    cell_h, cell_w = math.ceil(height / cells), math.ceil(width / cells)
    up = F.interpolate(
        grids[:, None], size=((cells + 1) * cell_h, (cells + 1) * cell_w), mode="bilinear",
        align_corners=False,
    )[:, 0]  # fmt: skip
    top = (shifts[:, 0] * cell_h).long()
    left = (shifts[:, 1] * cell_w).long()
    rows = top[:, None, None] + torch.arange(height)[None, :, None]
    columns = left[:, None, None] + torch.arange(width)[None, None, :]
    return up[torch.arange(len(up))[:, None, None], rows, columns]


def _passes(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return FORWARD * cast(int, params["masks"])


RISE = ExplainerSpec(
    name="rise",
    function=rise,
    params=(
        Param("masks", "integer", 2000, "random masks per image", minimum=1, maximum=20000),
        Param("cells", "integer", 7, "the side of each mask's grid of cells", 1, 64),
        Param("probability", "number", 0.5, "the chance a cell is kept", 0.01, 1.0),
        SEED,
        score_param("probability"),
    ),
    description="the class score of randomly masked copies averaged with the masks as "
    "weights (Petsiuk et al. 2018); one forward pass per mask",
    passes=_passes,
    forward_only=True,
)
