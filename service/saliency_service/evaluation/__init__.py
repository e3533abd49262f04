"""How much a saliency map moves under attack: rank correlation and structural similarity."""

from __future__ import annotations

from saliency_service.evaluation.stability import spearman_rank_correlation, ssim

__all__ = ["spearman_rank_correlation", "ssim"]
