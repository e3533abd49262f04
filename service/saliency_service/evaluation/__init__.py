"""Robustness reports: accuracy under attack, and how much a saliency map moves under attack."""

from __future__ import annotations

from saliency_service.evaluation.accuracy import accuracy_under_attack
from saliency_service.evaluation.stability import spearman_rank_correlation, ssim

__all__ = ["accuracy_under_attack", "spearman_rank_correlation", "ssim"]
