"""How concentrated a map is: its sparseness (Gini index) and entropy, of absolute values.

- Sparseness: P. Chalasani, J. Chen, A. R. Chowdhury, S. Jha, X. Wu, "Concise Explanations of
  Neural Networks using Adversarial Training", ICML 2020: the Gini index of |Φ|, 0 for a flat
  map, near 1 when one pixel holds everything. Higher is more concise.
- Entropy: U. Bhatt, A. Weller, J. M. F. Moura, "Evaluating and Aggregating Feature-based Model
  Explanations", IJCAI 2020, eq. 6: the Shannon entropy (nats) of the pixels' fractional
  contributions |Φ_p| / Σ|Φ|, log(H·W) for a flat map. Lower is more concise; NaN for a map of
  zeros, which distributes nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_service.assessment.base import Params, Result


def sparseness(heatmaps: Tensor, _params: Params) -> Result:
    """Gini index Σ_i (2i − n − 1) v_(i) / (n Σ v) of the sorted |Φ| (0 for a map of zeros).

    Shape:
        heatmaps: (N, H, W); values (N,).
    """
    values = heatmaps.flatten(1).double().abs().sort(dim=1).values
    n = values.shape[1]
    weights = 2 * torch.arange(1, n + 1, dtype=torch.float64, device=values.device) - n - 1
    total = values.sum(dim=1)
    gini = (values * weights).sum(dim=1) / (n * total.where(total > 0, 1.0))
    return Result(gini)


def entropy(heatmaps: Tensor, _params: Params) -> Result:
    """−Σ p log p with p = |Φ| / Σ|Φ| (0 log 0 = 0).

    Shape:
        heatmaps: (N, H, W); values (N,).
    """
    values = heatmaps.flatten(1).double().abs()
    shares = values / values.sum(dim=1, keepdim=True)
    return Result(-torch.special.xlogy(shares, shares).sum(dim=1))
