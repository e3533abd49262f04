"""Channel reductions that turn (N, C, H, W) attributions into (N, H, W) heatmaps."""

from __future__ import annotations

from torch import Tensor

from saliency_service.params import Param

REDUCTIONS: tuple[str, ...] = ("abs_max", "abs_mean", "mean", "sum")


def reduce_channels(attributions: Tensor, how: str) -> Tensor:
    """Collapse the channel axis of per-channel attributions into one heatmap.

    Args:
        attributions: per-pixel, per-channel values.
        how: "abs_max" (Simonyan et al. 2014, §3.1: max over channels of |·|), "abs_mean"
            (mean of |·|; the SmoothGrad authors' PAIR saliency library sums |·| for its
            grayscale view, the same up to 1/C), "mean", or "sum" (keeps Σ heatmap =
            Σ attributions, so completeness carries over).

    Returns:
        The heatmap, raw (not normalised).

    Raises:
        ValueError: `how` is none of the above.

    Shape:
        attributions: (N, C, H, W); returns (N, H, W).
    """
    if how == "abs_max":
        return attributions.abs().amax(dim=1)
    if how == "abs_mean":
        return attributions.abs().mean(dim=1)
    if how == "mean":
        return attributions.mean(dim=1)
    if how == "sum":
        return attributions.sum(dim=1)
    raise ValueError(f"unknown channel reduction '{how}'; valid: {', '.join(REDUCTIONS)}")


def reduce_param(default: str) -> Param:
    """The `reduce` parameter of methods with per-channel attributions."""
    return Param(
        "reduce",
        "text",
        default,
        "how the channels of the attributions collapse into the heatmap: max or mean of |·|, "
        "mean, or sum",
        choices=REDUCTIONS,
    )
