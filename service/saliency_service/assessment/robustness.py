"""How much a map moves when the input moves a little: max-sensitivity and the local Lipschitz
estimate. Lower is better for both.

Max-sensitivity: Yeh et al., "On the (In)fidelity and Sensitivity of Explanations", NeurIPS
2019, eq. 4, with Quantus's relative form: max over inputs y within an L∞ ball of radius r
around x of ‖Φ(y) − Φ(x)‖ / ‖Φ(x)‖ (Frobenius norms), estimated by `samples` uniform draws.

Local Lipschitz estimate: D. Alvarez-Melis, T. S. Jaakkola, "On the Robustness of
Interpretability Methods", ICML 2018 workshop, eq. 1: max over nearby inputs y of
‖Φ(y) − Φ(x)‖₂ / ‖y − x‖₂, estimated by `samples` draws of Gaussian noise of deviation σ.

Perturbed inputs are not clipped to [0, 1] (the definitions perturb x freely). Draw k is the
same for every image; the class explained is the image's own.
"""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_service.assessment._perturb import SEED
from saliency_service.assessment.base import (
    Params,
    Result,
    integer,
    number,
    sample_generator,
)
from saliency_service.params import Param

_SAMPLES = Param("samples", "integer", 10, "perturbed copies explained per image",
                 minimum=1, maximum=1024)
SENSITIVITY_PARAMS = (
    _SAMPLES,
    Param("radius", "number", 0.02, "L∞ radius of the uniform noise, in pixel units [0, 1]",
          minimum=0.0, maximum=1.0),
    SEED,
)
LIPSCHITZ_PARAMS = (
    _SAMPLES,
    Param("sigma", "number", 0.02, "standard deviation of the Gaussian noise, in pixel units",
          minimum=0.0, maximum=1.0),
    SEED,
)


def samples(params: Params) -> int:
    return integer(params, "samples")


def uniform_noise(shape: torch.Size, params: Params, k: int) -> Tensor:
    """Draw k of max-sensitivity: uniform in [−radius, radius), float64."""
    draws = torch.rand(shape, generator=sample_generator(integer(params, "seed"), k),
                       dtype=torch.float64)
    return number(params, "radius") * (draws * 2 - 1)


def gaussian_noise(shape: torch.Size, params: Params, k: int) -> Tensor:
    """Draw k of the local Lipschitz estimate: Gaussian of deviation sigma, float64."""
    draws = torch.randn(shape, generator=sample_generator(integer(params, "seed"), k),
                        dtype=torch.float64)
    return number(params, "sigma") * draws


def uniform_inputs(
    images: Tensor, targets: Tensor, _classes: int, params: Params, k: int
) -> tuple[Tensor, Tensor]:
    """Sample k of max-sensitivity: every image plus uniform draw k, for its own class.

    Shape:
        images: (N, C, H, W); targets: (N,); returns the same shapes.
    """
    return images + uniform_noise(images.shape[1:], params, k).to(images), targets


def gaussian_inputs(
    images: Tensor, targets: Tensor, _classes: int, params: Params, k: int
) -> tuple[Tensor, Tensor]:
    """Sample k of the local Lipschitz estimate: every image plus Gaussian draw k."""
    return images + gaussian_noise(images.shape[1:], params, k).to(images), targets


def _differences(heatmaps: Tensor, maps: Tensor) -> Tensor:
    """‖Φ(y_k) − Φ(x)‖ per image and sample, (N, S)."""
    differences: Tensor = (maps.double() - heatmaps.double()[:, None]).flatten(2)
    return differences.square().sum(dim=2).sqrt()


def max_sensitivity(
    images: Tensor, heatmaps: Tensor, maps: Tensor, _targets: Tensor, params: Params
) -> Result:
    """max_k ‖Φ(x + δ_k) − Φ(x)‖ / ‖Φ(x)‖; NaN for a map of zeros.

    Shape:
        heatmaps: (N, H, W); maps: (N, S, H, W); values (N,).
    """
    scale = heatmaps.double().flatten(1).norm(dim=1)
    ratios = _differences(heatmaps, maps) / scale[:, None]
    return Result(ratios.amax(dim=1))


def local_lipschitz(
    images: Tensor, heatmaps: Tensor, maps: Tensor, _targets: Tensor, params: Params
) -> Result:
    """max_k ‖Φ(x + δ_k) − Φ(x)‖₂ / ‖δ_k‖₂.

    Shape:
        images: (N, C, H, W); heatmaps: (N, H, W); maps: (N, S, H, W); values (N,).
    """
    steps = torch.stack(
        [gaussian_noise(images.shape[1:], params, k).norm() for k in range(maps.shape[1])]
    )
    return Result((_differences(heatmaps, maps) / steps[None]).amax(dim=1))
