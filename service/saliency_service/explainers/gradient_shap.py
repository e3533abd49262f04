"""GradientSHAP: expected gradients from a distribution of baselines.

S. Lundberg, S.-I. Lee, NeurIPS 2017 (SHAP's GradientExplainer) and G. Erion et al., "Improving
performance of deep learning models with axiomatic attribution priors and expected gradients",
Nat. Mach. Intell. 2021: `φ = E_{x'∼D, α∼U(0,1)} [(x − x') ⊙ ∇f(x' + α (x − x'))]`, Integrated
Gradients averaged over baselines drawn from D, one random point of each path. As Captum's
`GradientShap`, the input may first get Gaussian noise (SmoothGrad's σ, here a fraction of the
image's value range), and then x is the noisy copy. Summed, the attributions approach
`f(x) − E[f(x')]` (completeness in expectation), which is reported against the drawn baselines.
Each image draws its baselines, points and noise from its own generator, the same in any batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from saliency_service.errors import InvalidRequest
from saliency_service.explainers._autograd import chunks, input_gradients, target_scores
from saliency_service.explainers._masking import FORWARD, SEED, generator
from saliency_service.explainers._reduce import reduce_channels, reduce_param
from saliency_service.explainers._reference import completeness
from saliency_service.explainers.base import ExplainerSpec, Explanation
from saliency_service.images import gaussian_blur
from saliency_service.params import Param

DISTRIBUTIONS: tuple[str, ...] = ("uniform", "black", "blurred", "given")


def gradient_shap(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    samples: int = 50,
    noise: float = 0.0,
    baseline: str = "uniform",
    blur_sigma: float = 5.0,
    baseline_images: Tensor | np.ndarray | None = None,
    seed: int = 0,
    reduce: str = "sum",
    chunk_size: int | None = None,
) -> Explanation:
    """Expected gradients of each image's target logit.

    Args:
        model: pixels in [0, 1] to logits.
        images: the batch, in [0, 1].
        targets: one class per image.
        samples: baselines and path points drawn per image.
        noise: σ of the noise added to the input, as a fraction of its value range.
        baseline: the distribution D: "uniform" (a fresh U[0, 1) image per draw), "black",
            "blurred" (the image blurred by `blur_sigma` px), or "given" (drawn uniformly
            from `baseline_images`, (B, H, W, C) or (H, W, C) pixels in [0, 1]).
        seed: seeds every draw.
        reduce: channel reduction for the heatmap.
        chunk_size: most rows per forward/backward pass.

    Returns:
        attributions, heatmap, and IG's diagnostics "score_delta" (`f(x) − mean f(x'_k)`),
        "completeness_gap", "relative_completeness_gap".

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W); attributions (N, C, H, W).
    """
    stack = _given(baseline, baseline_images, images)
    span = images.amax(dim=(1, 2, 3)) - images.amin(dim=(1, 2, 3))
    per_pass = len(images) if chunk_size is None else max(1, chunk_size // samples)
    parts, reference_scores = [], []
    for rows in chunks(len(images), per_pass):
        drawn = [
            draws(image, samples, noise * float(scale), baseline, blur_sigma, stack, seed)
            for image, scale in zip(images[rows], span[rows], strict=True)
        ]
        references = torch.cat([d[0] for d in drawn])
        alphas = torch.cat([d[1] for d in drawn]).view(-1, 1, 1, 1)
        noisy = images[rows].repeat_interleave(samples, dim=0) + torch.cat([d[2] for d in drawn])
        row_targets = targets[rows].repeat_interleave(samples)
        gradients, _ = input_gradients(
            model, references + alphas * (noisy - references), row_targets, chunk_size
        )
        products = (noisy - references) * gradients
        parts.append(products.view(-1, samples, *images.shape[1:]).mean(dim=1))
        reference_scores.append(
            target_scores(model, references, row_targets, chunk_size).view(-1, samples).mean(1)
        )
    attributions = torch.cat(parts)
    return Explanation(
        heatmap=reduce_channels(attributions, reduce),
        attributions=attributions,
        diagnostics=completeness(
            attributions, target_scores(model, images, targets, chunk_size),
            torch.cat(reference_scores),
        ),  # fmt: skip
    )


def draws(
    image: Tensor,
    samples: int,
    sigma: float,
    baseline: str,
    blur_sigma: float,
    stack: Tensor | None,
    seed: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """One image's baselines, path points α and input noise, from its own generator.

    Shape:
        image: (C, H, W); returns (samples, C, H, W), (samples,), (samples, C, H, W).
    """
    source = generator(seed)
    shape = (samples, *image.shape)
    if baseline == "uniform":
        references = torch.rand(shape, generator=source)
    elif baseline == "given" and stack is not None:
        references = stack[torch.randint(len(stack), (samples,), generator=source)]
    elif baseline == "blurred":
        references = gaussian_blur(image[None], blur_sigma).expand(shape)
    else:
        references = torch.zeros(shape)
    alphas = torch.rand(samples, generator=source)
    noise = torch.randn(shape, generator=source) * sigma
    like = image.new_empty(0)
    return references.to(like), alphas.to(like), noise.to(like)


def _given(baseline: str, given: Tensor | np.ndarray | None, images: Tensor) -> Tensor | None:
    """`baseline_images` as (B, C, H, W) on the CPU, after checking it fits the images."""
    if given is not None and baseline != "given":
        raise InvalidRequest(
            f"baseline_images is only used with baseline 'given', not '{baseline}'"
        )
    if baseline != "given":
        return None
    if given is None:
        raise InvalidRequest("baseline 'given' needs the tensor parameter baseline_images")
    stack = torch.as_tensor(np.asarray(given.cpu() if isinstance(given, Tensor) else given),
                            dtype=torch.float32)  # fmt: skip
    stack = stack[None] if stack.dim() == 3 else stack
    channels, height, width = images.shape[1:]
    if stack.dim() != 4 or len(stack) == 0 or stack.shape[1:] != (height, width, channels):
        raise InvalidRequest(
            f"baseline_images must be (B, H, W, C), B ≥ 1, or (H, W, C) with (H, W, C) = "
            f"{(height, width, channels)}, the model's input size; got {tuple(stack.shape)}"
        )
    return stack.permute(0, 3, 1, 2)


def _passes(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return (1 + FORWARD) * cast(int, params["samples"]) + FORWARD


GRADIENT_SHAP = ExplainerSpec(
    name="gradient_shap",
    function=gradient_shap,
    params=(
        Param("samples", "integer", 50, "baselines and path points per image", 1, 4096),
        Param(
            "noise",
            "number",
            0.0,
            "σ of Gaussian noise added to the input, as a fraction of its value range",
            minimum=0.0,
            maximum=1.0,
        ),
        Param(
            "baseline",
            "text",
            "uniform",
            "the baseline distribution: uniform noise images, black, the blurred image, or "
            "drawn from baseline_images",
            choices=DISTRIBUTIONS,
        ),
        Param("blur_sigma", "number", 5.0, "blur of the 'blurred' baseline, in pixels", 0.1, 64.0),
        Param(
            "baseline_images",
            "tensor",
            None,
            "the 'given' distribution: (B, H, W, C) or (H, W, C) float32 pixels in [0, 1] at "
            "the model's input size",
        ),
        SEED,
        reduce_param("sum"),
    ),
    description="expected gradients: (x − x') ⊙ ∇f at random points of paths from baselines "
    "drawn from a distribution (Lundberg & Lee 2017); reports the completeness gap",
    passes=_passes,
    attributions=True,
)
