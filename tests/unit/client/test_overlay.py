"""Heatmap overlays and image files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from saliency_client.overlay import (
    COLORMAPS,
    normalize_heatmap,
    overlay_heatmap,
    save_image,
    save_overlay,
)
from saliency_client.png import decode_png

RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 256, (12, 16, 3), dtype=np.uint8)
HEATMAP = RNG.random((12, 16)).astype(np.float32)
HOT = {"jet": (128, 0, 0), "hot": (255, 255, 255), "gray": (255, 255, 255)}


def test_hot_colours_cover_every_colormap() -> None:
    assert set(HOT) == set(COLORMAPS)


@pytest.mark.parametrize("colormap", sorted(HOT))
def test_the_hottest_pixel_gets_the_colormaps_hot_colour(colormap: str) -> None:
    heatmap = np.zeros((12, 16), dtype=np.float32)
    heatmap[3, 5] = 10.0
    heatmap[8:, :] = 2.0  # enough warm pixels that the 99th percentile is not the peak
    out = overlay_heatmap(IMAGE, heatmap, alpha=1.0, colormap=colormap)
    assert out.shape == (12, 16, 3)
    assert out.dtype == np.uint8
    assert tuple(out[3, 5]) == HOT[colormap]
    assert tuple(out[0, 0]) != HOT[colormap]


def test_alpha_zero_gives_back_the_image() -> None:
    np.testing.assert_array_equal(overlay_heatmap(IMAGE, HEATMAP, alpha=0.0), IMAGE)


def test_alpha_blends_linearly() -> None:
    image = np.zeros((12, 16, 3), dtype=np.uint8)
    full = overlay_heatmap(image, HEATMAP, alpha=1.0).astype(np.float64)
    half = overlay_heatmap(image, HEATMAP, alpha=0.5).astype(np.float64)
    np.testing.assert_allclose(half, full / 2, atol=1.0)


@pytest.mark.parametrize(
    "image",
    [
        IMAGE.astype(np.float32) / 255,
        np.concatenate([IMAGE, np.full((12, 16, 1), 9, dtype=np.uint8)], axis=2),
    ],
    ids=["float", "rgba"],
)
def test_float_and_rgba_images_match_the_uint8_rgb_overlay(image: np.ndarray) -> None:
    expected = overlay_heatmap(IMAGE, HEATMAP)
    np.testing.assert_allclose(overlay_heatmap(image, HEATMAP), expected, atol=1)


def test_grey_image_is_drawn_in_rgb() -> None:
    grey = IMAGE[:, :, 0]
    out = overlay_heatmap(grey, HEATMAP, alpha=0.0)
    assert out.shape == (12, 16, 3)
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


def test_heatmap_of_another_size_is_resized_bilinearly() -> None:
    small = np.array([[0.0, 1.0], [0.0, 1.0]])
    out = overlay_heatmap(np.zeros((4, 8, 3), np.uint8), small, alpha=1.0, colormap="gray")
    assert out.shape == (4, 8, 3)
    # Left edge cold, right edge hot, rising monotonically in between, equal down each column.
    row = out[0, :, 0].astype(int)
    assert row[0] == 0
    assert row[-1] == 255
    assert np.all(np.diff(row) >= 0)
    assert np.all(out == out[:1])


def test_normalisation_clips_at_the_99th_percentile() -> None:
    heatmap = np.arange(1000, dtype=np.float64)
    heatmap[-1] = 1e9  # one extreme pixel must not wash out the rest
    levels = normalize_heatmap(heatmap)
    assert levels[0] == 0.0
    assert levels[-1] == 1.0
    assert levels[500] == pytest.approx(500 / np.percentile(heatmap, 99), rel=1e-6)


@pytest.mark.parametrize("heatmap", [np.full((3, 3), 4.0), np.full((3, 3), np.nan)])
def test_flat_or_empty_heatmaps_normalise_to_zero(heatmap: np.ndarray) -> None:
    np.testing.assert_array_equal(normalize_heatmap(heatmap), np.zeros((3, 3)))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"alpha": 1.5}, ValueError, "alpha"),
        ({"colormap": "viridis"}, ValueError, "valid: jet, hot, gray"),
        ({"heatmap": np.zeros((2, 3, 4))}, ValueError, "heatmap"),
        ({"image": np.zeros((12, 16, 2))}, ValueError, "image"),
        ({"image": np.zeros((12, 16, 3), dtype=np.int32)}, TypeError, "uint8 or float"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    arguments: dict[str, Any] = {"image": IMAGE, "heatmap": HEATMAP} | kwargs
    with pytest.raises(error, match=message):
        overlay_heatmap(**arguments)


def test_save_overlay_writes_the_overlay_as_png(tmp_path: Path) -> None:
    path = tmp_path / "overlay.png"
    save_overlay(path, IMAGE, HEATMAP, alpha=0.3, colormap="hot")
    np.testing.assert_array_equal(
        decode_png(path.read_bytes()), overlay_heatmap(IMAGE, HEATMAP, alpha=0.3, colormap="hot")
    )


def test_save_image_scales_floats_to_bytes(tmp_path: Path) -> None:
    path = tmp_path / "adversarial.png"
    save_image(path, np.array([[[0.0, 0.5, 1.0], [1.2, -0.1, 0.25]]], dtype=np.float32))
    np.testing.assert_array_equal(decode_png(path.read_bytes()), [[[0, 128, 255], [255, 0, 64]]])
