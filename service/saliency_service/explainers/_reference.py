"""The reference input x' of path and difference methods (IG, DeepLIFT), and their completeness.

Baseline choices follow P. Sturmfels, S. Lundberg, S.-I. Lee, "Visualizing the Impact of Feature
Attribution Baselines", Distill 2020: black (zeros), a blurred copy of the input, uniform noise,
or an image the caller gives.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from saliency_service.errors import InvalidRequest
from saliency_service.images import gaussian_blur

BASELINES: tuple[str, ...] = ("black", "blurred", "uniform", "given")


def baselines(
    images: Tensor,
    kind: str,
    *,
    blur_sigma: float,
    seed: int,
    baseline_image: Tensor | np.ndarray | None,
) -> Tensor:
    """The reference x' for each image, in pixel space.

    Args:
        images: the batch, in [0, 1].
        kind: "black" (zeros), "blurred" (`gaussian_blur(images, blur_sigma)`), "uniform"
            (U[0, 1) noise from a generator seeded with `seed`, the same for every image) or
            "given" (`baseline_image` for every image).
        blur_sigma: the blur's standard deviation in pixels.
        seed: seeds the uniform noise.
        baseline_image: the "given" reference, (H, W, C) in [0, 1] pixel space, the layout of
            every image the API takes, at the images' height and width.

    Raises:
        InvalidRequest: "given" without `baseline_image`, a `baseline_image` of the wrong shape,
            or a `baseline_image` with another kind.
        ValueError: unknown `kind`.

    Shape:
        images: (N, C, H, W); returns (N, C, H, W) (possibly an expanded view).
    """
    if baseline_image is not None and kind != "given":
        raise InvalidRequest(f"baseline_image is only used with baseline 'given', not '{kind}'")
    if kind == "black":
        return torch.zeros_like(images)
    if kind == "blurred":
        return gaussian_blur(images, blur_sigma)
    if kind == "uniform":
        generator = torch.Generator(device=images.device).manual_seed(seed)
        noise = torch.rand(
            images.shape[1:], generator=generator, device=images.device, dtype=images.dtype
        )
        return noise.expand_as(images)
    if kind == "given":
        if baseline_image is None:
            raise InvalidRequest("baseline 'given' needs the tensor parameter baseline_image")
        given = torch.as_tensor(baseline_image, dtype=images.dtype, device=images.device)
        channels, height, width = images.shape[1:]
        if given.shape != (height, width, channels):
            raise InvalidRequest(
                f"baseline_image must be (H, W, C) = {(height, width, channels)}, the model's "
                f"input size, got {tuple(given.shape)}"
            )
        return given.permute(2, 0, 1).expand_as(images)
    raise ValueError(f"unknown baseline '{kind}'; valid: {', '.join(BASELINES)}")


def completeness(
    attributions: Tensor, scores: Tensor, reference_scores: Tensor
) -> dict[str, Tensor]:
    """How far `Σ attributions` is from `f_c(x) − f_c(x')`.

    Completeness (Sundararajan et al. 2017, Prop. 1) and summation-to-delta (Shrikumar et al.
    2017, eq. 1) both say the two are equal.

    Returns:
        "score_delta": `f_c(x) − f_c(x')`; "completeness_gap": `Σ attributions − score_delta`;
        "relative_completeness_gap": `|gap| / |score_delta|` (huge where the delta is 0).

    Shape:
        attributions: (N, C, H, W); scores, reference_scores: (N,); each value (N,).
    """
    score_delta = scores - reference_scores
    gap = attributions.sum(dim=(1, 2, 3)) - score_delta
    tiny = torch.finfo(score_delta.dtype).tiny
    return {
        "score_delta": score_delta,
        "completeness_gap": gap,
        "relative_completeness_gap": gap.abs() / score_delta.abs().clamp_min(tiny),
    }
