"""The synthetic shapes generator: reproducible, balanced, and its masks match what was drawn."""

from __future__ import annotations

import numpy as np
import pytest
from saliency_service.demo.shapes import CLASSES, ShapesBatch, generate


@pytest.fixture(scope="module")
def batch() -> ShapesBatch:
    return generate(240, seed=7)


def _outline(masks: np.ndarray) -> np.ndarray:
    """Pixels 1-2 px outside each mask (4-neighbour dilation twice, minus the mask)."""
    grown = masks.copy()
    for _ in range(2):
        padded = np.pad(grown, ((0, 0), (1, 1), (1, 1)))
        grown = (
            padded[:, 1:-1, 1:-1]
            | padded[:, :-2, 1:-1]
            | padded[:, 2:, 1:-1]
            | padded[:, 1:-1, :-2]
            | padded[:, 1:-1, 2:]
        )
    return grown & ~masks


def test_arrays_have_the_documented_shapes_and_dtypes() -> None:
    batch = generate(12, seed=0, size=48)
    assert batch.images.shape == (12, 48, 48, 3)
    assert batch.images.dtype == np.uint8
    assert batch.labels.shape == (12,)
    assert batch.labels.dtype == np.int64
    assert batch.masks.shape == (12, 48, 48)
    assert batch.masks.dtype == np.bool_


def test_the_same_seed_gives_the_same_batch() -> None:
    first, second = generate(18, seed=3), generate(18, seed=3)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.masks, second.masks)


def test_different_seeds_give_different_images_and_masks() -> None:
    first, second = generate(18, seed=3), generate(18, seed=4)
    # Every image differs, not just some: the seed reaches each image's randomness.
    assert all(not np.array_equal(a, b) for a, b in zip(first.images, second.images, strict=True))
    assert not np.array_equal(first.masks, second.masks)


@pytest.mark.parametrize("n", [60, 61, 65])
def test_classes_are_balanced(n: int) -> None:
    counts = np.bincount(generate(n, seed=1).labels, minlength=len(CLASSES))
    assert len(counts) == len(CLASSES)
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == n


def test_labels_are_shuffled_rather_than_cycling(batch: ShapesBatch) -> None:
    assert not np.array_equal(batch.labels, np.arange(len(batch.labels)) % len(CLASSES))


def test_objects_are_inside_the_image_and_of_the_intended_size(batch: ShapesBatch) -> None:
    masks = batch.masks
    assert masks.any(axis=(1, 2)).all()
    border = masks[:, 0, :] | masks[:, -1, :] | masks[:, :, 0] | masks[:, :, -1]
    assert not border.any()
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    heights = rows.shape[1] - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1)
    widths = cols.shape[1] - cols[:, ::-1].argmax(axis=1) - cols.argmax(axis=1)
    extent = np.maximum(heights, widths)
    assert extent.min() >= 12
    assert extent.max() <= 32


def test_mask_pixels_carry_one_colour_unlike_their_surroundings(batch: ShapesBatch) -> None:
    outside = _outline(batch.masks)
    contrasting = 0
    for image, mask, ring in zip(batch.images.astype(float), batch.masks, outside, strict=True):
        colour = np.median(image[mask], axis=0)
        inside_distance = np.linalg.norm(image[mask] - colour, axis=1)
        # Pixel noise only (std 6 per channel): a mask shifted off the drawn shape would take
        # in background and clutter.
        assert np.quantile(inside_distance, 0.99) < 35
        outside_distance = np.linalg.norm(image[ring] - colour, axis=1)
        contrasting += np.median(outside_distance) > 40
    # Clutter of a similar colour may touch an object now and then, but rarely.
    assert contrasting / len(batch.images) >= 0.9


def test_object_colour_does_not_reveal_the_class() -> None:
    batch = generate(600, seed=11)
    pairs = zip(batch.images, batch.masks, strict=True)
    colours = np.array([np.median(image[mask], axis=0) for image, mask in pairs])
    class_means = np.array([colours[batch.labels == c].mean(axis=0) for c in range(len(CLASSES))])
    # Uniform colours (std ~74 per channel) averaged over 100 objects per class: the class means
    # agree to within a few standard errors.
    assert np.abs(class_means - colours.mean(axis=0)).max() < 25


@pytest.mark.parametrize(("n", "size"), [(-1, 64), (4, 16)])
def test_invalid_arguments_are_refused(n: int, size: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        generate(n, seed=0, size=size)
