"""Occlusion: how much the class score drops when a sliding square patch is blanked out.

M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv:1311.2901), §4.2 "Occlusion Sensitivity". Like Captum's `Occlusion`, a pixel's value is
the mean drop over the windows that cover it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.explainers._autograd import chunks, target_scores
from saliency_service.explainers._masking import Forward, forward_of
from saliency_service.explainers.base import FORWARD, ExplainerSpec, Explanation
from saliency_service.params import Param


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Offsets of the windows along one axis: every `stride`, plus one flush with the end.

    Captum stops at the last whole stride, which leaves the last `(size − window) mod stride`
    rows uncovered; the extra window covers them. A window wider than the axis is clipped.

    Raises:
        ValueError: `window` or `stride` is not positive.
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be at least 1, got {window} and {stride}")
    last = max(size - window, 0)
    starts = list(range(0, last + 1, stride))
    return starts if starts[-1] == last else [*starts, last]


def occlusion(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    window: int = 16,
    stride: int = 8,
    baseline_value: float = 0.0,
    chunk_size: int | None = None,
    forward: Forward | None = None,
) -> Explanation:
    """`f_c(x) − f_c(x with a window set to baseline_value)`, averaged per pixel over windows.

    All channels of a window are occluded together, so there is one value per pixel and no
    per-channel attributions. Each image costs one forward pass per window:
    `⌈(H − window) / stride + 1⌉ × ⌈(W − window) / stride + 1⌉` of them.

    Args:
        model: maps pixels in [0, 1] to logits.
        images: the batch, in [0, 1].
        targets: one class per image.
        window: side of the square patch, in pixels.
        stride: step between patches, in pixels.
        baseline_value: the pixel value an occluded patch takes (0 is black).
        chunk_size: most occluded copies per forward pass; None for all at once.
        forward: what runs the passes instead of `model` (its ONNX Runtime session).

    Returns:
        heatmap: the mean score drop of the windows covering each pixel (positive where
        occlusion lowers the score).

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W).
    """
    n, _, height, width = images.shape
    rows_in = _inside(window_starts(height, window, stride), window, height, images.device)
    cols_in = _inside(window_starts(width, window, stride), window, width, images.device)
    across = len(cols_in)
    windows = len(rows_in) * across
    run = forward_of(model, forward)
    scores = target_scores(run, images, targets, chunk_size)
    drops = torch.zeros(n, height, width, dtype=images.dtype, device=images.device)
    for span in chunks(n * windows, chunk_size):
        # Flat index = image × windows + window, so a chunk may span several images.
        flat = torch.arange(span.start, span.stop, device=images.device)
        image, where = flat // windows, flat % windows
        masks = rows_in[where // across][:, :, None] & cols_in[where % across][:, None, :]
        occluded = torch.where(masks[:, None], baseline_value, images[image])
        drop = scores[image] - target_scores(run, occluded, targets[image])
        drops.index_add_(0, image, drop.view(-1, 1, 1) * masks)
    # Windows covering pixel (y, x) = windows covering row y × windows covering column x.
    coverage = rows_in.sum(dim=0)[:, None] * cols_in.sum(dim=0)[None, :]
    return Explanation(heatmap=drops / coverage)


def _inside(starts: list[int], window: int, size: int, device: torch.device) -> Tensor:
    # (windows, size) booleans: True where a window starting at `starts[i]` covers a position.
    positions = torch.arange(size, device=device)
    first = torch.tensor(starts, device=device)[:, None]
    return (positions >= first) & (positions < first + window)


def _occlusion_passes(params: Mapping[str, object], shape: tuple[int, int, int]) -> float:
    window, stride = cast(int, params["window"]), cast(int, params["stride"])
    rows = len(window_starts(shape[1], window, stride))
    columns = len(window_starts(shape[2], window, stride))
    return FORWARD * (rows * columns + 1)


OCCLUSION = ExplainerSpec(
    name="occlusion",
    function=occlusion,
    params=(
        Param(
            "window", "integer", 16, "side of the square patch, in pixels", minimum=1, maximum=1024
        ),
        Param("stride", "integer", 8, "step between patches, in pixels", minimum=1, maximum=1024),
        Param(
            "baseline_value",
            "number",
            0.0,
            "pixel value of the occluding patch",
            minimum=0.0,
            maximum=1.0,
        ),
    ),
    description="drop in the class score when a sliding patch is blanked, averaged over "
    "the patches covering each pixel (Zeiler & Fergus 2014); one forward pass per patch",
    passes=_occlusion_passes,
    forward_only=True,
)
