"""SmoothGrad and its variants SmoothGrad² and VarGrad, wrapped around any gradient explainer.

SmoothGrad: D. Smilkov, N. Thorat, B. Kim, F. Viégas, M. Wattenberg, "SmoothGrad: removing noise
by adding noise", 2017 (arXiv:1706.03825). SmoothGrad²: S. Hooker et al., "A Benchmark for
Interpretability Methods in Deep Neural Networks", NeurIPS 2019 (arXiv:1806.10758). VarGrad:
J. Adebayo et al., "Local Explanation Methods for Deep Neural Networks Lack Sensitivity to
Parameter Values", ICLR workshop 2018 (arXiv:1810.03307). The modes mirror Captum's
`NoiseTunnelType`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.explainers._autograd import chunks
from saliency_service.explainers._params import SMOOTHING, reduce_param
from saliency_service.explainers._reduce import reduce_channels
from saliency_service.explainers.base import ExplainerSpec, Explanation
from saliency_service.explainers.gradients import vanilla_gradient

MODES: tuple[str, ...] = ("smoothgrad", "smoothgrad_squared", "vargrad")


def smoothgrad(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    samples: int = 50,
    noise: float = 0.15,
    seed: int = 0,
    reduce: str = "abs_mean",
    mode: str = "smoothgrad",
    explain: Callable[..., Explanation] = vanilla_gradient,
    chunk_size: int | None = None,
) -> Explanation:
    """Aggregate `explain`'s attributions over noisy copies `x + ε_k`, `ε_k ~ N(0, σ²)`.

    `σ = noise × (x_max − x_min)`, with the range taken over all pixels and channels of each
    image, as the paper's noise level σ / (x_max − x_min). Noisy copies are not clipped to
    [0, 1], as in the paper. Each image draws its `samples × C × H × W` noise from its own
    `torch.Generator` seeded with `seed`, so an image gets the same noise in any batch; the
    noise differs between CPU and CUDA generators.

    Args:
        model: maps pixels in [0, 1] to logits.
        images: the batch, in [0, 1].
        targets: one class per image.
        samples: noisy copies per image.
        noise: σ as a fraction of each image's value range.
        seed: seeds every image's noise generator.
        reduce: channel reduction for the heatmap (see `reduce_channels`); the default is,
            up to the factor 1/C, the authors' grayscale view (Σ |·| over channels in
            PAIR saliency's `VisualizeImageGrayscale`).
        mode: "smoothgrad" (mean), "smoothgrad_squared" (mean of squares) or "vargrad"
            (variance, normalised by `samples`) of the attributions over the copies.
        explain: a registry explainer that returns per-channel attributions, e.g.
            `vanilla_gradient` or a `functools.partial` of `integrated_gradients`.
        chunk_size: most noisy copies per forward/backward pass; None for all at once. Whole
            images are grouped, so a pass holds `samples × ⌊chunk_size / samples⌋` copies
            (one image's `samples` copies, chunked by `explain`, when `samples > chunk_size`).

    Returns:
        attributions: the aggregate; heatmap: its channel reduction.

    Raises:
        ValueError: `mode` is unknown, or `explain` gives no attributions.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W); attributions (N, C, H, W).
    """
    if mode not in MODES:
        raise ValueError(f"unknown SmoothGrad mode '{mode}'; valid: {', '.join(MODES)}")
    sigma = noise * (images.amax(dim=(1, 2, 3)) - images.amin(dim=(1, 2, 3)))
    images_per_pass = len(images) if chunk_size is None else max(1, chunk_size // samples)
    aggregates = []
    for rows in chunks(len(images), images_per_pass):
        noisy = torch.cat(
            [
                image + scale * _noise(image, samples, seed)
                for image, scale in zip(images[rows], sigma[rows], strict=True)
            ]
        )
        copies = explain(
            model, noisy, targets[rows].repeat_interleave(samples), chunk_size=chunk_size
        ).attributions
        if copies is None:
            raise ValueError("smoothgrad needs an explainer that returns attributions")
        aggregates.append(_aggregate(copies.view(-1, samples, *copies.shape[1:]), mode))
    attributions = torch.cat(aggregates)
    return Explanation(heatmap=reduce_channels(attributions, reduce), attributions=attributions)


def _noise(image: Tensor, samples: int, seed: int) -> Tensor:
    generator = torch.Generator(device=image.device).manual_seed(seed)
    return torch.randn(
        (samples, *image.shape), generator=generator, device=image.device, dtype=image.dtype
    )


def _aggregate(copies: Tensor, mode: str) -> Tensor:
    # copies: (n, samples, C, H, W); the statistics run over the samples axis.
    if mode == "smoothgrad":
        return copies.mean(dim=1)
    if mode == "smoothgrad_squared":
        return copies.square().mean(dim=1)
    return copies.var(dim=1, correction=0)


def _samples(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return float(cast(int, params["samples"]))


SMOOTHGRAD = ExplainerSpec(
    name="smoothgrad",
    function=partial(smoothgrad, mode="smoothgrad"),
    params=(*SMOOTHING, reduce_param("abs_mean")),
    description="mean gradient over noisy copies of the image (Smilkov et al. 2017)",
    passes=_samples,
    attributions=True,
)
SMOOTHGRAD_SQUARED = ExplainerSpec(
    name="smoothgrad_squared",
    function=partial(smoothgrad, mode="smoothgrad_squared"),
    params=(*SMOOTHING, reduce_param("abs_mean")),
    description="mean squared gradient over noisy copies (Hooker et al. 2019)",
    passes=_samples,
    attributions=True,
)
VARGRAD = ExplainerSpec(
    name="vargrad",
    function=partial(smoothgrad, mode="vargrad"),
    params=(*SMOOTHING, reduce_param("abs_mean")),
    description="variance of the gradient over noisy copies (Adebayo et al. 2018)",
    passes=_samples,
    attributions=True,
)
