"""Features for the perturbation methods: each image cut into segments that are kept or hidden.

Superpixels by scikit-image (R. Achanta et al., "SLIC Superpixels Compared to State-of-the-Art
Superpixel Methods", TPAMI 2012; A. Vedaldi, S. Soatto, "Quick Shift and Kernel Methods for
Mode Seeking", ECCV 2008; LIME's image explainer uses quickshift with its settings below), a
regular grid, or a mask the caller gives. Segments are computed on the image at the model's
input size, in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

import numpy as np
import torch
from skimage.segmentation import quickshift, slic
from torch import Tensor

from saliency_service.errors import InvalidRequest
from saliency_service.params import Param

SEGMENTATIONS: tuple[str, ...] = ("slic", "quickshift", "grid", "given")
# More features than this make the surrogate solves and Shapley sampling too slow to be useful.
MAX_SEGMENTS = 1024
SEGMENT_PARAMS = (
    Param(
        "segmentation",
        "text",
        "slic",
        "the features: SLIC or quickshift superpixels (scikit-image), a grid, or the given "
        "feature_mask",
        choices=SEGMENTATIONS,
    ),
    Param(
        "segments",
        "integer",
        50,
        "about how many segments (SLIC's n_segments; a grid of round(√segments)² cells)",
        minimum=1,
        maximum=MAX_SEGMENTS,
    ),
    Param(
        "compactness",
        "number",
        10.0,
        "SLIC's compactness: higher gives squarer segments",
        minimum=0.01,
        maximum=1000.0,
    ),
    Param(
        "feature_mask",
        "tensor",
        None,
        "the 'given' segments: (H, W) whole numbers at the model's input size, one per feature",
    ),
)


def segment(
    images: Tensor,
    how: str,
    *,
    segments: int,
    compactness: float,
    feature_mask: Tensor | np.ndarray | None,
) -> tuple[Tensor, Tensor]:
    """Label every pixel of every image with its segment, 0 … K_i − 1.

    Raises:
        InvalidRequest: "given" without a feature_mask, a mask of the wrong shape or with values
            that are not whole numbers, more than MAX_SEGMENTS segments, a feature_mask with
            another segmentation, or quickshift on images without three channels.
        ValueError: unknown `how`.

    Shape:
        images: (N, C, H, W); returns labels (N, H, W) int64 on the images' device and the
        count K_i of each image (N,).
    """
    if feature_mask is not None and how != "given":
        raise InvalidRequest(f"feature_mask is only used with segmentation 'given', not '{how}'")
    n, channels, height, width = images.shape
    if how == "given":
        labels = _given(feature_mask, height, width).expand(n, -1, -1)
    elif how == "grid":
        labels = _grid(segments, height, width).expand(n, -1, -1)
    elif how in ("slic", "quickshift"):
        if how == "quickshift" and channels != 3:
            raise InvalidRequest("quickshift segments colour images (3 channels); use slic")
        pixels = images.detach().permute(0, 2, 3, 1).double().cpu().numpy()
        labels = torch.stack([_superpixels(p, how, segments, compactness) for p in pixels])
    else:
        raise ValueError(f"unknown segmentation '{how}'; valid: {', '.join(SEGMENTATIONS)}")
    counts = labels.flatten(1).amax(dim=1) + 1
    return labels.to(images.device), counts.to(images.device)


def priced_segments(params: Mapping[str, object], shape: tuple[int, int, int]) -> int:
    """The segment count to price a request at, before any image is segmented: the mask's, the
    grid's, or the superpixels' target with room for SLIC's overshoot (quickshift takes no
    target: one segment per 16 × 16 pixels)."""
    mask = params.get("feature_mask")
    if params["segmentation"] == "given" and isinstance(mask, np.ndarray):
        return len(np.unique(mask))
    wanted = cast(int, params["segments"])
    if params["segmentation"] == "grid":
        return max(1, round(math.sqrt(wanted))) ** 2
    if params["segmentation"] == "quickshift":
        return max(1, shape[1] * shape[2] // 256)
    return min(2 * wanted, shape[1] * shape[2])


def _superpixels(pixels: np.ndarray, how: str, segments: int, compactness: float) -> Tensor:
    if how == "slic":
        found = slic(pixels, n_segments=segments, compactness=compactness, start_label=0,
                     channel_axis=-1)  # fmt: skip
    else:  # LIME's settings; quickshift's tie-breaking noise is seeded by scikit-image
        found = quickshift(  # type: ignore[no-untyped-call]
            pixels, kernel_size=4, max_dist=200, ratio=0.2, channel_axis=-1
        )
    return _consecutive(found)


def _grid(segments: int, height: int, width: int) -> Tensor:
    side = max(1, round(math.sqrt(segments)))
    rows = torch.arange(height) * min(side, height) // height
    columns = torch.arange(width) * min(side, width) // width
    return rows[:, None] * min(side, width) + columns[None, :]


def _given(mask: Tensor | np.ndarray | None, height: int, width: int) -> Tensor:
    if mask is None:
        raise InvalidRequest("segmentation 'given' needs the tensor parameter feature_mask")
    values = np.asarray(mask.cpu() if isinstance(mask, Tensor) else mask)
    if values.shape != (height, width):
        raise InvalidRequest(
            f"feature_mask must be (H, W) = {(height, width)}, the model's input size, "
            f"got {tuple(values.shape)}"
        )
    if not np.isfinite(values).all() or not np.array_equal(values, np.round(values)):
        raise InvalidRequest("feature_mask must hold whole numbers, one per feature")
    return _consecutive(values.astype(np.int64))


def _consecutive(labels: np.ndarray) -> Tensor:
    """The same partition with labels 0 … K − 1 (in order of the original values)."""
    _, inverse = np.unique(labels, return_inverse=True)
    if inverse.max(initial=0) >= MAX_SEGMENTS:
        raise InvalidRequest(f"at most {MAX_SEGMENTS} segments, got {inverse.max() + 1}")
    return torch.from_numpy(inverse.reshape(labels.shape).astype(np.int64))
