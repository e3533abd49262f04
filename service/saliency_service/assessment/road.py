"""ROAD: remove the pixels a map ranks highest (or lowest) and fill them by noisy linear
imputation, so that the removal itself tells the model nothing about where the pixels were.

Y. Rong, T. Leemann, V. Borisov, G. Kasneci, E. Kasneci, "A Consistent and Efficient Evaluation
Strategy for Attribution Methods", ICML 2022, §4 (Remove And Debias). Each removed pixel takes
the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct ones, 1/12 for the diagonal
ones, neighbours outside the image left out), which couples the removed pixels into one sparse
linear system per channel; then Gaussian noise of standard deviation `noise` is added to them.
The system (the graph Laplacian of the removed pixels, the kept ones as boundary values) is
assembled with vectorised index arithmetic and solved directly by SuperLU (scipy), every channel
with one factorisation, in float64. A removed region that touches no kept pixel (everything
removed) has no boundary to take values from; it is filled with zeros.

The curve is, at each fraction removed (k / (steps + 1), k = 1 … steps), whether the model still
predicts the explained class (1) or not (0); the score is its mean, the share of removal levels
the prediction survives. Averaged over images, the curve is the paper's accuracy curve.
Most-relevant-first: lower is better; least-relevant-first: higher is better.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import torch
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg
from torch import Tensor

from saliency_service.assessment._perturb import ORDER, SEED, removal_ranks
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
from saliency_service.params import Param

PARAMS = (
    Param("steps", "integer", 9, "removal levels k / (steps + 1), k = 1 … steps",
          minimum=1, maximum=256),
    ORDER,
    Param("noise", "number", 0.01, "standard deviation of the noise added to imputed pixels",
          minimum=0.0, maximum=1.0),
    SEED,
)
def fractions(params: Params) -> list[float]:
    steps = integer(params, "steps")
    return [k / (steps + 1) for k in range(1, steps + 1)]


def rows(params: Params, _pixels: int) -> int:
    return integer(params, "steps")


# (row offset, column offset, weight) of a pixel's neighbours in the imputation.
_NEIGHBOURS = (
    (-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
    (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12),
)


def linear_imputation(image: Tensor, removed: Tensor) -> Tensor:
    """`image` with every removed pixel the weighted mean of its neighbours (no noise).

    Shape:
        image: (C, H, W); removed: (H, W) bool; returns (C, H, W) in image's dtype.
    """
    channels, height, width = image.shape
    values = image.detach().double().cpu().numpy().reshape(channels, -1)
    gone = removed.cpu().numpy().reshape(-1)
    unknown = np.flatnonzero(gone)
    if len(unknown) == 0:
        return image.clone()
    variable = np.full(height * width, -1)
    variable[unknown] = np.arange(len(unknown))
    rows, columns = np.divmod(unknown, width)
    degree = np.zeros(len(unknown))
    right = np.zeros((len(unknown), channels))
    entries_i, entries_j, entries_w = [np.arange(len(unknown))], [np.arange(len(unknown))], []
    for dy, dx, weight in _NEIGHBOURS:
        y, x = rows + dy, columns + dx
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        degree[inside] += weight
        neighbour = y[inside] * width + x[inside]
        coupled = gone[neighbour]
        entries_i.append(np.flatnonzero(inside)[coupled])
        entries_j.append(variable[neighbour[coupled]])
        entries_w.append(np.full(int(coupled.sum()), -weight))
        right[np.flatnonzero(inside)[~coupled]] += weight * values[:, neighbour[~coupled]].T
    system = sparse.csc_matrix(
        (np.concatenate([degree, *entries_w]),
         (np.concatenate(entries_i), np.concatenate(entries_j))),
        shape=(len(unknown), len(unknown)),
    )
    solution = _solve(system, right)
    filled = values.copy()
    filled[:, unknown] = solution.T
    return torch.from_numpy(filled.reshape(channels, height, width)).to(image)


def _solve(system: sparse.csc_matrix, right: np.ndarray) -> np.ndarray:
    """Solve system · x = right; a region with no kept pixel to take values from (a singular
    block) is zero."""
    with warnings.catch_warnings():
        # A region without boundary makes the matrix singular; SuperLU warns and returns NaN
        # for it, which is where the docstring's zeros come from.
        warnings.simplefilter("ignore", sparse_linalg.MatrixRankWarning)
        solution = np.asarray(sparse_linalg.spsolve(system, right)).reshape(right.shape)
    finite: np.ndarray = np.nan_to_num(solution, nan=0.0, posinf=0.0, neginf=0.0)
    return finite


def imputed(image: Tensor, ranks: Tensor, count: int, noise: float, seed: int, k: int) -> Tensor:
    """Level k's input: the first `count` pixels in removal order imputed, plus noise.

    Shape:
        image: (C, H, W); ranks: (H, W); returns (C, H, W).
    """
    removed = ranks < count
    filled = linear_imputation(image, removed)
    if noise > 0:
        draws = torch.randn(image.shape, generator=sample_generator(seed, k), dtype=torch.float64)
        filled = filled + (noise * draws).to(image) * removed.to(image.device)
    return filled


def inputs(image: Tensor, heatmap: Tensor, params: Params) -> list[Builder]:
    """The image at each removal level.

    Shape:
        image: (C, H, W); heatmap: (H, W).
    """
    ranks = removal_ranks(heatmap, text(params, "order"))
    pixels = heatmap.numel()
    noise, seed = number(params, "noise"), integer(params, "seed")
    return [
        partial(imputed, image, ranks, int(pixels * f), noise, seed, k)
        for k, f in enumerate(fractions(params), start=1)
    ]


def road(images: Tensor, heatmaps: Tensor, clean: Scores, levels: Scores, params: Params) -> Result:
    """Whether the explained class is still predicted at each level, and the mean over levels.

    Shape:
        levels: (N, K); curves (N, K).
    """
    kept = (levels.predicted == levels.target).double()
    return Result(kept.mean(dim=1), kept, fractions(params))
