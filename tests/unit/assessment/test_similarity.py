"""Spearman rank correlation against scipy, and SSIM against its definition and properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from saliency_service.assessment.similarity import spearman_rank_correlation, ssim
from scipy import ndimage, stats
from torch import Tensor


def maps(count: int, size: int, seed: int) -> Tensor:
    return torch.rand(count, size, size, generator=torch.Generator().manual_seed(seed))


def test_spearman_matches_scipy_with_and_without_ties() -> None:
    a, b = maps(4, 16, seed=0), maps(4, 16, seed=1)
    b[0] = a[0] * 2 + 0.1 * b[0]
    # Ties, as a ReLU'd Grad-CAM map has: whole regions at zero, and repeated quantised values.
    a[1, :8] = 0
    b[2] = (b[2] * 4).floor()
    a[3] = (a[3] * 3).floor()
    b[3] = (b[3] * 3).floor()
    ours = spearman_rank_correlation(a, b)
    expected = [stats.spearmanr(a[i].flatten(), b[i].flatten()).statistic for i in range(4)]
    assert ours.tolist() == pytest.approx(expected, abs=1e-6)


def test_spearman_is_one_for_a_monotone_transform_and_nan_for_a_constant_map() -> None:
    a = maps(2, 12, seed=2)
    assert torch.allclose(spearman_rank_correlation(a, a.exp() * 3), torch.ones(2))
    assert torch.equal(spearman_rank_correlation(a, -a), -torch.ones(2))
    assert spearman_rank_correlation(a[:1], torch.zeros(1, 12, 12)).isnan().all()


def reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """scikit-image's structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1) written out with scipy, on [0, 1]-scaled maps."""
    x = (a - a.min()) / (a.max() - a.min())
    y = (b - b.min()) / (b.max() - b.min())

    def blur(values: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(values, sigma=1.5, truncate=3.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s[5:-5, 5:-5].mean())


def test_ssim_matches_the_scikit_image_recipe() -> None:
    a, b = maps(3, 24, seed=3), maps(3, 24, seed=4)
    b[0] = a[0] + 0.2 * b[0]
    ours = ssim(a, b)
    expected = [reference_ssim(a[i].double().numpy(), b[i].double().numpy()) for i in range(3)]
    assert ours.tolist() == pytest.approx(expected, abs=1e-6)


def test_ssim_is_one_for_identical_maps_symmetric_and_falls_with_noise() -> None:
    a = maps(2, 32, seed=5)
    assert torch.allclose(ssim(a, a), torch.ones(2))
    # Scaling and shifting a map does not change it once normalised to [0, 1].
    assert torch.allclose(ssim(a, 5 * a + 2), torch.ones(2))
    noise = maps(2, 32, seed=6) - 0.5
    scores = [ssim(a, a + level * noise) for level in (0.05, 0.2, 0.5, 1.0)]
    assert torch.allclose(ssim(a + 0.2 * noise, a), scores[1])
    for weaker, stronger in zip(scores, scores[1:], strict=False):
        assert torch.all(stronger < weaker)


def test_ssim_refuses_maps_smaller_than_its_window() -> None:
    with pytest.raises(ValueError, match="11"):
        ssim(maps(1, 10, seed=1), maps(1, 10, seed=2))
