"""The weighted linear surrogates of LIME and KernelSHAP, solved in float64.

Both fit `score ≈ intercept + Σ_k φ_k z_k` over the sampled coalitions z ∈ {0, 1}^K, weighted.
LIME's is a ridge regression with an unpenalised intercept (LIME's `Ridge(alpha=1)`; sklearn's
`Ridge` with sample weights solves the same problem). KernelSHAP's has its intercept and its sum
fixed by the Shapley kernel's infinite weights on the empty and full coalitions
(S. Lundberg, S.-I. Lee, NeurIPS 2017, Theorem 2): `intercept = f(x')`, `Σ φ = f(x) − f(x')`,
imposed exactly by eliminating the last coefficient, as the shap library does.
The fits are small (samples × segments) and run on the CPU by least squares (LAPACK's
divide-and-conquer SVD, which also returns the minimum-norm answer when samples are fewer than
segments).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Fit:
    """Coefficients (K,), the intercept, and the weighted R² of the fit."""

    coefficients: Tensor
    intercept: float
    r2: float


def ridge(design: Tensor, scores: Tensor, weights: Tensor, alpha: float) -> Fit:
    """Minimise `Σ_s w_s (y_s − b − z_s·φ)² + α |φ|²` over φ and b.

    Shape:
        design: (S, K) in {0, 1}; scores, weights: (S,).
    """
    z, y, w = design.double(), scores.double(), weights.double()
    # Weighted centring removes the intercept, which is not penalised.
    total = w.sum().clamp_min(torch.finfo(torch.float64).tiny)
    z_mean, y_mean = (w @ z) / total, (w @ y) / total
    root = w.sqrt()[:, None]
    lhs, rhs = root * (z - z_mean), root[:, 0] * (y - y_mean)
    if alpha > 0:  # ridge as extra rows √α·I with target 0
        lhs = torch.cat([lhs, alpha**0.5 * torch.eye(z.shape[1], dtype=torch.float64)])
        rhs = torch.cat([rhs, rhs.new_zeros(z.shape[1])])
    coefficients = _least_squares(lhs, rhs)
    intercept = float(y_mean - z_mean @ coefficients)
    return Fit(coefficients, intercept, _r2(z, y, w, coefficients, intercept))


def shapley(design: Tensor, scores: Tensor, weights: Tensor, full: float, empty: float) -> Fit:
    """Minimise `Σ_s w_s (y_s − f(x') − z_s·φ)²` subject to `Σ φ = f(x) − f(x')`.

    Args:
        full: f(x), the score with every segment kept.
        empty: f(x'), the score with none.

    Shape:
        design: (S, K) in {0, 1}, K ≥ 1; scores, weights: (S,).
    """
    z, y, w = design.double(), scores.double(), weights.double()
    delta = full - empty
    if z.shape[1] == 1:
        coefficients = torch.tensor([delta], dtype=torch.float64)
        return Fit(coefficients, empty, _r2(z, y, w, coefficients, empty))
    # φ_K = Δ − Σ_{k<K} φ_k turns the constraint into the last column.
    last = z[:, -1:]
    lhs = w.sqrt()[:, None] * (z[:, :-1] - last)
    rhs = w.sqrt() * (y - empty - last[:, 0] * delta)
    head = _least_squares(lhs, rhs)
    coefficients = torch.cat([head, (delta - head.sum()).reshape(1)])
    return Fit(coefficients, empty, _r2(z, y, w, coefficients, empty))


def _least_squares(lhs: Tensor, rhs: Tensor) -> Tensor:
    solution: Tensor = torch.linalg.lstsq(lhs, rhs[:, None], driver="gelsd").solution
    return solution[:, 0]


def _r2(z: Tensor, y: Tensor, w: Tensor, coefficients: Tensor, intercept: float) -> float:
    """Weighted R² (LIME reports it as the explanation's `score`)."""
    total = w.sum()
    if float(total) <= 0:
        return 0.0
    mean = (w @ y) / total
    residual = w @ (y - intercept - z @ coefficients).square()
    spread = w @ (y - mean).square()
    return 1.0 - float(residual / spread) if float(spread) > 0 else 1.0
