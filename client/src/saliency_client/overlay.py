"""Heatmaps drawn over their images, and PNG files of both, in numpy alone (no matplotlib)."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from saliency_client.png import encode_png

_FloatArray = npt.NDArray[np.float64]


def _jet(x: _FloatArray) -> _FloatArray:
    # The classic piecewise-linear jet: dark blue → cyan → yellow → dark red.
    rgb: _FloatArray = np.clip(1.5 - np.abs(4.0 * x[..., None] - np.array([3.0, 2.0, 1.0])), 0, 1)
    return rgb


def _hot(x: _FloatArray) -> _FloatArray:
    # Black → red → yellow → white, each channel ramping over a third of the range.
    rgb: _FloatArray = np.clip(3.0 * x[..., None] - np.array([0.0, 1.0, 2.0]), 0.0, 1.0)
    return rgb


def _gray(x: _FloatArray) -> _FloatArray:
    return np.repeat(x[..., None], 3, axis=-1)


COLORMAPS: dict[str, Callable[[_FloatArray], _FloatArray]] = {
    "jet": _jet,
    "hot": _hot,
    "gray": _gray,
}
"""Colormaps by name: each maps values in [0, 1] (any shape) to RGB in [0, 1] (shape + (3,))."""


def _as_float_rgb(image: npt.NDArray[np.generic]) -> _FloatArray:
    """Pixels (H, W), (H, W, 1|3|4), uint8 or float in [0, 1] → float RGB (H, W, 3) in [0, 1]."""
    pixels = image[:, :, None] if image.ndim == 2 else image
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must be (H, W) or (H, W, 1|3|4), got shape {image.shape}")
    if pixels.dtype == np.uint8:
        scaled = pixels.astype(np.float64) / 255.0
    elif np.issubdtype(pixels.dtype, np.floating):
        scaled = np.clip(pixels.astype(np.float64), 0.0, 1.0)
    else:
        raise TypeError(f"image must be uint8 or float in [0, 1], got {image.dtype}")
    # Grey is repeated into RGB; an alpha channel is dropped, since the result is opaque.
    return np.repeat(scaled, 3, axis=2) if scaled.shape[2] == 1 else scaled[:, :, :3]


def _resize_bilinear(values: _FloatArray, height: int, width: int) -> _FloatArray:
    """Resize (h, w) to (height, width) bilinearly, sampling at pixel centres like OpenCV."""

    def axis(size_in: int, size_out: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp],
                                                   _FloatArray]:
        centres = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
        low = np.floor(centres).astype(np.intp)
        high = np.minimum(low + 1, size_in - 1)
        return low, high, centres - low

    y0, y1, fy = axis(values.shape[0], height)
    x0, x1, fx = axis(values.shape[1], width)
    top = values[y0][:, x0] * (1 - fx) + values[y0][:, x1] * fx
    bottom = values[y1][:, x0] * (1 - fx) + values[y1][:, x1] * fx
    return top * (1 - fy[:, None]) + bottom * fy[:, None]


def normalize_heatmap(heatmap: npt.NDArray[np.generic], *, percentile: float = 99.0) -> _FloatArray:
    """Map a raw heatmap to [0, 1] for display.

    Values run linearly from the map's minimum (0) to its `percentile`-th percentile (1), and
    values above it clip to 1. The percentile, not the maximum, sets the top because gradient
    maps often have a few extreme pixels that would otherwise push the rest to near 0.
    Non-finite values count as the minimum. A constant map becomes all zeros.

    Shape:
        heatmap: (H, W); returns (H, W) float64.
    """
    values = heatmap.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape)
    low = float(values[finite].min())
    high = float(np.percentile(values[finite], percentile))
    if high <= low:
        return np.zeros(values.shape)
    return np.clip((np.where(finite, values, low) - low) / (high - low), 0.0, 1.0)


def signed_scale(heatmap: npt.NDArray[np.generic], *, percentile: float = 99.0) -> float:
    """The magnitude that a signed colour scale maps to full colour: a high percentile of |map|.

    A map is drawn on a symmetric scale, −scale (full blue) … 0 (no colour) … +scale (full red),
    so the sign stays visible. The percentile, not the maximum, for the reason given in
    `normalize_heatmap`. 0.0 for a map with no finite non-zero value.

    Shape:
        heatmap: any; the scale is one number.
    """
    values = np.abs(heatmap.astype(np.float64))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0
    scale = float(np.percentile(values, percentile))
    return scale if scale > 0.0 else float(values.max())


def stretched(picture: npt.NDArray[np.generic]) -> _FloatArray:
    """A picture made by a method (a class model, grown from mid-grey) with its departures from
    mid-grey stretched to the full range, as Simonyan et al. (2014, Fig. 1) show theirs.

    Shape:
        picture: (H, W) or (H, W, C); returns (H, W, 3) in [0, 1].
    """
    offset = _as_float_rgb(picture) - 0.5
    peak = float(np.abs(offset).max())
    return offset / (2 * peak) + 0.5 if peak > 0 else offset + 0.5


def overlay_heatmap(
    image: npt.NDArray[np.generic],
    heatmap: npt.NDArray[np.generic],
    *,
    alpha: float = 0.5,
    colormap: str = "jet",
) -> npt.NDArray[np.uint8]:
    """Blend a colour-mapped heatmap over an image.

    The heatmap is normalised by `normalize_heatmap`. If its size differs from the image's (a
    map computed at the model's resolution, say), it is resized bilinearly to the image's.

    Args:
        image: uint8 pixels, or floats in [0, 1]; grey, RGB or RGBA (alpha is dropped).
        heatmap: raw float values, any range.
        alpha: weight of the heatmap's colour; 0 gives back the image, 1 the colour-mapped map.
        colormap: a name in `COLORMAPS`.

    Returns:
        The blend as uint8 RGB.

    Shape:
        image: (H, W) or (H, W, C); heatmap: (h, w); returns (H, W, 3).

    Raises:
        ValueError: a bad shape, an alpha outside [0, 1], or an unknown colormap.
        TypeError: an image that is neither uint8 nor float.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap '{colormap}'; valid: {', '.join(COLORMAPS)}")
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be (H, W), got shape {heatmap.shape}")
    rgb = _as_float_rgb(image)
    levels = normalize_heatmap(heatmap)
    if levels.shape != rgb.shape[:2]:
        levels = _resize_bilinear(levels, rgb.shape[0], rgb.shape[1])
    blend = (1.0 - alpha) * rgb + alpha * COLORMAPS[colormap](levels)
    return np.rint(blend * 255.0).astype(np.uint8)


def save_image(path: str | os.PathLike[str], pixels: npt.NDArray[np.generic]) -> None:
    """Write pixels (uint8, or floats in [0, 1] such as an adversarial image) as a PNG file.

    Shape:
        pixels: (H, W) or (H, W, C), C in 1-4.
    """
    if pixels.dtype != np.uint8:
        if not np.issubdtype(pixels.dtype, np.floating):
            raise TypeError(f"pixels must be uint8 or float in [0, 1], got {pixels.dtype}")
        pixels = np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
    with open(path, "wb") as file:
        file.write(encode_png(pixels.astype(np.uint8)))


def save_overlay(
    path: str | os.PathLike[str],
    image: npt.NDArray[np.generic],
    heatmap: npt.NDArray[np.generic],
    *,
    alpha: float = 0.5,
    colormap: str = "jet",
) -> None:
    """Write `overlay_heatmap(image, heatmap, alpha=alpha, colormap=colormap)` as a PNG file."""
    save_image(path, overlay_heatmap(image, heatmap, alpha=alpha, colormap=colormap))
