"""A small generated problem with a robust and a non-robust feature, and its object masks.

Two classes (y = ±1). Every 16×16 image is grey noise, plus y·64 on a 5×5 square at a random
place (the object, whose mask is kept: a robust feature, far above ε), plus y·8 times one fixed
dense ±1 pattern over every pixel (a non-robust feature: perfectly predictive but below an L∞
budget of 12/255, so an attacker can invert it). Standard training uses both and falls to PGD;
robust training must lean on the object.
"""

from __future__ import annotations

import numpy as np
from saliency_service.training.data import ArrayImages

SIZE = 16
EPS = 12 / 255
CLASSES = ("minus", "plus")
OBJECT = 5


def toy_arrays(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 images (N, 16, 16, 3), labels (N,), masks (N, 16, 16), seeded."""
    rng = np.random.default_rng(seed)
    pattern = np.where(np.random.default_rng(123).random((SIZE, SIZE, 3)) < 0.5, -1, 1)
    labels = rng.integers(0, 2, count)
    sign = (2 * labels - 1)[:, None, None, None]
    masks = np.zeros((count, SIZE, SIZE), dtype=bool)
    for index, (row, column) in enumerate(rng.integers(0, SIZE - OBJECT, (count, 2))):
        masks[index, row : row + OBJECT, column : column + OBJECT] = True
    images = 128 + rng.uniform(-38, 38, (count, SIZE, SIZE, 3)) + sign * 8 * pattern
    images = images + sign * 64 * masks[..., None]
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels, masks


def toy(count: int, seed: int) -> ArrayImages:
    images, labels, masks = toy_arrays(count, seed)
    return ArrayImages(images, labels, CLASSES, masks)
