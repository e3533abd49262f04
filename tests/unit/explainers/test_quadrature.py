"""Gauss–Legendre nodes by Newton's method: numpy's eigenvalue answer, and exactness."""

from __future__ import annotations

import numpy as np
import pytest
from saliency_service.explainers.integrated_gradients import gauss_legendre


@pytest.mark.parametrize("steps", [2, 3, 8, 50, 257])
def test_nodes_and_weights_equal_numpys(steps: int) -> None:
    nodes, weights = gauss_legendre(steps)
    expected_nodes, expected_weights = np.polynomial.legendre.leggauss(steps)
    np.testing.assert_allclose(nodes, expected_nodes, atol=1e-13)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-13)


@pytest.mark.parametrize("steps", [1024, 4096])
def test_many_nodes_integrate_polynomials_exactly(steps: int) -> None:
    nodes, weights = gauss_legendre(steps)
    assert np.all(np.diff(nodes) > 0) and np.all(weights > 0)
    # ∫_{-1}^{1} x^k dx = 2 / (k + 1) for even k, 0 for odd k.
    for k in (0, 1, 2, 9, 20):
        exact = 2 / (k + 1) if k % 2 == 0 else 0.0
        assert float(np.sum(weights * nodes**k)) == pytest.approx(exact, abs=1e-12)
