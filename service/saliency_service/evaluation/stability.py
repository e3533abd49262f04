"""How similar two batches of saliency maps are: Spearman rank correlation and SSIM.

Used to measure a map's stability under attack (the lecture notes' §4.1 observation that maps
barely move while the label flips). SSIM is Wang, Bovik, Sheikh and Simoncelli, "Image Quality
Assessment: From Error Visibility to Structural Similarity", IEEE TIP 2004, with its standard
settings: an 11×11 gaussian window of σ = 1.5, C1 = (0.01·L)², C2 = (0.03·L)², L = 1.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

_WINDOW = 11
_SIGMA = 1.5
_C1 = 0.01**2
_C2 = 0.03**2


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
