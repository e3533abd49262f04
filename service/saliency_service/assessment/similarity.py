"""How similar two batches of saliency maps are: Spearman rank correlation, SSIM, HOG.

Used to measure a map's stability under attack (the lecture notes' §4.1 observation that maps
barely move while the label flips) and the sanity checks of Adebayo et al. (2018), who compare a
map with the map of a randomised model by these three measures. SSIM is Wang, Bovik, Sheikh and
Simoncelli, "Image Quality Assessment: From Error Visibility to Structural Similarity", IEEE TIP
2004, with its standard settings: an 11×11 gaussian window of σ = 1.5, C1 = (0.01·L)²,
C2 = (0.03·L)², L = 1. HOG similarity is the Pearson correlation of the two maps' histograms of
oriented gradients (Dalal and Triggs, CVPR 2005), with scikit-image's defaults: 9 unsigned
orientations, 8×8-pixel cells, 3×3-cell blocks normalised by L2-Hys.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

_WINDOW = 11
_SIGMA = 1.5
_C1 = 0.01**2
_C2 = 0.03**2
_ORIENTATIONS = 9
_CELL = 8
_BLOCK = 3
_HYS_CLIP = 0.2
_HYS_EPS = 1e-5
SIMILARITIES = ("spearman", "ssim", "hog")


def _average_ranks(values: Tensor) -> Tensor:
    """Ranks 1..M along each row, tied values sharing the mean of their ranks (as scipy does).

    Shape:
        values: (N, M); returns (N, M) in values' dtype.
    """
    rows, length = values.shape
    ordered, order = values.sort(dim=1, stable=True)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    # A tie group's id, unique over the whole batch, for one scatter over every row at once.
    groups = starts.cumsum(dim=1) - 1 + length * torch.arange(rows, device=values.device)[:, None]
    positions = torch.arange(1, length + 1, dtype=values.dtype, device=values.device)
    mean_rank = torch.zeros(rows * length, dtype=values.dtype, device=values.device)
    mean_rank = mean_rank.scatter_reduce(
        0, groups.flatten(), positions.repeat(rows), reduce="mean", include_self=False
    )
    return torch.empty_like(ordered).scatter_(1, order, mean_rank[groups])


def spearman_rank_correlation(a: Tensor, b: Tensor) -> Tensor:
    """Spearman's ρ between each pair of maps: the Pearson correlation of their pixel ranks.

    Ties get average ranks. A constant map has no ranking, and its ρ is NaN, as in scipy.

    Shape:
        a, b: (N, H, W); returns (N,).
    """
    ranks_a = _average_ranks(a.flatten(1).double())
    ranks_b = _average_ranks(b.flatten(1).double())
    ranks_a = ranks_a - ranks_a.mean(dim=1, keepdim=True)
    ranks_b = ranks_b - ranks_b.mean(dim=1, keepdim=True)
    covariance = (ranks_a * ranks_b).sum(dim=1)
    scale = (ranks_a.square().sum(dim=1) * ranks_b.square().sum(dim=1)).sqrt()
    return (covariance / scale).to(a.dtype)


def _unit_range(maps: Tensor) -> Tensor:
    """Each map min-max scaled to [0, 1]; a constant map becomes all zeros.

    Shape:
        maps: (N, H, W); returns (N, H, W).
    """
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - low
    return (maps - low) / torch.where(span > 0, span, torch.ones_like(span))


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> Tensor:
    offsets = torch.arange(_WINDOW, dtype=dtype, device=device) - (_WINDOW - 1) / 2
    profile = torch.exp(-(offsets**2) / (2 * _SIGMA**2))
    profile = profile / profile.sum()
    return torch.outer(profile, profile)[None, None]


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """The mean structural similarity of each pair of maps, after scaling each map to [0, 1].

    Local statistics are gaussian-weighted over the window positions that fit inside the map
    ("valid", as Wang et al.'s reference code and scikit-image's cropped mean), with population
    (not sample) variances. 1 means identical; the measure is symmetric in a and b.

    Raises:
        ValueError: a map is smaller than the 11×11 window.

    Shape:
        a, b: (N, H, W) with H, W ≥ 11; returns (N,).
    """
    if min(a.shape[-2:]) < _WINDOW:
        raise ValueError(f"ssim needs maps of at least {_WINDOW}×{_WINDOW}, got {tuple(a.shape)}")
    x = _unit_range(a.double())[:, None]
    y = _unit_range(b.double())[:, None]
    window = _gaussian_window(x.dtype, x.device)

    def local_mean(values: Tensor) -> Tensor:
        return F.conv2d(values, window)

    mean_x, mean_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mean_x**2
    var_y = local_mean(y * y) - mean_y**2
    cov_xy = local_mean(x * y) - mean_x * mean_y
    similarity = ((2 * mean_x * mean_y + _C1) * (2 * cov_xy + _C2)) / (
        (mean_x**2 + mean_y**2 + _C1) * (var_x + var_y + _C2)
    )
    return similarity.mean(dim=(1, 2, 3)).to(a.dtype)


def pearson_correlation(a: Tensor, b: Tensor) -> Tensor:
    """Pearson's r between each pair of rows, in float64; NaN when a row is constant.

    Shape:
        a, b: (N, M); returns (N,).
    """
    x = a.double() - a.double().mean(dim=1, keepdim=True)
    y = b.double() - b.double().mean(dim=1, keepdim=True)
    return (x * y).sum(dim=1) / (x.square().sum(dim=1) * y.square().sum(dim=1)).sqrt()


def hog_features(maps: Tensor) -> Tensor:
    """Histograms of oriented gradients of each map (after scaling it to [0, 1]), flattened in
    scikit-image's order (block row, block column, cell row, cell column, orientation).

    Gradients are central differences, zero on the border rows and columns; each pixel votes
    its magnitude into the bin of its orientation in [0°, 180°); a cell's histogram is the mean
    vote over its pixels (rows and columns beyond the last whole cell are left out); each 3×3
    block of cells is normalised by L2-Hys (clipped at 0.2).

    Raises:
        ValueError: a map smaller than one block (24×24).

    Shape:
        maps: (N, H, W); returns (N, F).
    """
    size = _CELL * _BLOCK
    if min(maps.shape[-2:]) < size:
        raise ValueError(f"hog needs maps of at least {size}×{size}, got {tuple(maps.shape)}")
    x = _unit_range(maps.double())
    rows = torch.zeros_like(x)
    columns = torch.zeros_like(x)
    rows[:, 1:-1, :] = x[:, 2:, :] - x[:, :-2, :]
    columns[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    magnitude = torch.hypot(columns, rows)
    orientation = torch.rad2deg(torch.atan2(rows, columns)).remainder(180.0)
    bins = (orientation / (180.0 / _ORIENTATIONS)).floor().long().clamp_(0, _ORIENTATIONS - 1)
    votes = F.one_hot(bins, _ORIENTATIONS).double() * magnitude[..., None]
    n, height, width = x.shape
    cells_y, cells_x = height // _CELL, width // _CELL
    votes = votes[:, : cells_y * _CELL, : cells_x * _CELL]
    cells = votes.reshape(n, cells_y, _CELL, cells_x, _CELL, _ORIENTATIONS).mean(dim=(2, 4))
    blocks = cells.unfold(1, _BLOCK, 1).unfold(2, _BLOCK, 1)  # (N, by, bx, O, 3, 3)
    blocks = blocks.permute(0, 1, 2, 4, 5, 3).flatten(3)
    blocks = blocks / (blocks.square().sum(dim=3, keepdim=True) + _HYS_EPS**2).sqrt()
    blocks = blocks.clamp(max=_HYS_CLIP)
    blocks = blocks / (blocks.square().sum(dim=3, keepdim=True) + _HYS_EPS**2).sqrt()
    return blocks.flatten(1)


def hog_similarity(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of the maps' HOG features (see `hog_features`).

    Shape:
        a, b: (N, H, W) with H, W ≥ 24; returns (N,).
    """
    return pearson_correlation(hog_features(a), hog_features(b)).to(a.dtype)


def similarity(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """One of `SIMILARITIES` between each pair of maps, in float64.

    Shape:
        a, b: (N, H, W); returns (N,).
    """
    a, b = a.double(), b.double()
    if kind == "spearman":
        return spearman_rank_correlation(a, b)
    if kind == "ssim":
        return ssim(a, b)
    if kind == "hog":
        return hog_similarity(a, b)
    raise ValueError(f"unknown similarity {kind!r}; valid: {', '.join(SIMILARITIES)}")
