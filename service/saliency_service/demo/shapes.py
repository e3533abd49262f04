"""Synthetic "shapes on clutter" images for the built-in demo model.

Each image holds one filled shape whose class is decided by its outline alone: its colour,
size, rotation and position are random, and it lies on a background of gradients, noise, lines,
blobs and small polygon fragments drawn from the same colour distribution. The object mask is
kept, so explanations can be scored against where the object really is (the pointing game).

numpy only: the generator must stay importable without torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Every class has a solid centre: a ring was tried and dropped, because its evidence peaks in
# the hole, outside the object mask, which defeats the pointing game the demo is judged by.
CLASSES: tuple[str, ...] = ("circle", "ellipse", "square", "triangle", "cross", "star")

# Circumradius range of the object, as a fraction of the image side: 9-15 px at 64 px, so the
# object spans roughly 16-30 px and even a star's core holds a cell of a stride-4 feature map.
_RADIUS_RANGE = (0.14, 0.235)
# Minimum Euclidean RGB distance between the object and the background's base colour, so the
# object is always visible (clutter may still share its colour).
_MIN_CONTRAST = 90.0
_NOISE_STD = 6.0


@dataclass(frozen=True)
class ShapesBatch:
    """A generated batch.

    Shape:
        images: (N, H, W, 3) uint8; labels: (N,) int64 indices into `CLASSES`;
        masks: (N, H, W) bool, True on the object's pixels.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray


def generate(n: int, seed: int, size: int = 64) -> ShapesBatch:
    """Generate `n` images with balanced classes, deterministically for a given seed.

    Args:
        n: number of images; class counts differ by at most one.
        seed: seed of the numpy generator; the same seed gives the same batch.
        size: image height and width in pixels (the objects scale with it).

    Returns:
        The images, their labels and the object masks.

    Raises:
        ValueError: `n` is negative or `size` is smaller than 32.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if size < 32:
        raise ValueError(f"size must be at least 32, got {size}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % len(CLASSES))
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=bool)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    for i, label in enumerate(labels):
        images[i], masks[i] = _render(rng, CLASSES[label], xx, yy)
    return ShapesBatch(images=images, labels=labels, masks=masks)


def _render(
    rng: np.random.Generator, name: str, xx: np.ndarray, yy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    size = xx.shape[0]
    base = rng.uniform(0, 255, 3)
    image = _background(rng, base, xx, yy)
    _add_clutter(rng, image, xx, yy)
    radius = rng.uniform(*_RADIUS_RANGE) * size
    cx, cy = rng.uniform(radius + 1, size - radius - 1, 2)
    mask = _shape_mask(rng, name, cx, cy, radius, xx, yy)
    image[mask] = _contrasting_colour(rng, base)
    image += rng.normal(0.0, _NOISE_STD, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask


def _background(
    rng: np.random.Generator, base: np.ndarray, xx: np.ndarray, yy: np.ndarray
) -> np.ndarray:
    size = xx.shape[0]
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction)
    ramp = ((xx - size / 2) * direction[0] + (yy - size / 2) * direction[1]) / size
    image = base + ramp[..., None] * rng.uniform(-60, 60, 3)
    # Coarse colour noise, upsampled by repetition, adds texture at the scale of the objects.
    cells = -(-size // 8)
    coarse = rng.normal(0.0, 15.0, (cells, cells, 3)).repeat(8, axis=0).repeat(8, axis=1)
    textured: np.ndarray = image + coarse[:size, :size]
    return textured


def _add_clutter(
    rng: np.random.Generator, image: np.ndarray, xx: np.ndarray, yy: np.ndarray
) -> None:
    size = xx.shape[0]
    for _ in range(rng.integers(3, 7)):
        start, end = rng.uniform(0, size, (2, 2))
        width = rng.uniform(0.6, 1.6)
        image[_segment_mask(start, end, width, xx, yy)] = rng.uniform(0, 255, 3)
    for _ in range(rng.integers(2, 6)):
        cx, cy = rng.uniform(0, size, 2)
        rx, ry = rng.uniform(1.5, 4.0, 2)
        image[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0] = rng.uniform(0, 255, 3)
    # Small random polygons: corners and edges like the objects have, but no object's outline.
    for _ in range(rng.integers(2, 6)):
        centre = rng.uniform(0, size, 2)
        vertices = centre + rng.uniform(-5, 5, (rng.integers(3, 6), 2))
        image[_polygon_mask(vertices, xx, yy)] = rng.uniform(0, 255, 3)


def _contrasting_colour(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    while True:
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - base) >= _MIN_CONTRAST:
            return colour


def _shape_mask(
    rng: np.random.Generator,
    name: str,
    cx: float,
    cy: float,
    radius: float,
    xx: np.ndarray,
    yy: np.ndarray,
) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    if name in ("circle", "ellipse"):
        # Semi-axes: the ellipse is clearly elongated, so only its outline tells it from a circle.
        minor = radius if name == "circle" else radius * rng.uniform(0.45, 0.6)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = (yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle)
        inside: np.ndarray = (u / radius) ** 2 + (v / minor) ** 2 <= 1.0
        return inside
    outline = _outline(rng, name, radius)
    c, s = np.cos(angle), np.sin(angle)
    vertices = outline @ np.array([[c, s], [-s, c]]) + np.array([cx, cy])
    return _polygon_mask(vertices, xx, yy)


def _outline(rng: np.random.Generator, name: str, radius: float) -> np.ndarray:
    """Vertices of a polygonal shape centred on the origin, before rotation."""
    if name == "cross":
        h = radius * rng.uniform(0.3, 0.38)
        a = np.sqrt(radius**2 - h**2)
        return np.array(
            [(a, h), (h, h), (h, a), (-h, a), (-h, h), (-a, h),
             (-a, -h), (-h, -h), (-h, -a), (h, -a), (h, -h), (a, -h)]
        )  # fmt: skip
    if name == "square":
        radii, corners = np.full(4, radius), 4
    elif name == "triangle":
        radii, corners = np.full(3, radius), 3
    elif name == "star":
        radii, corners = np.tile([radius, radius * rng.uniform(0.45, 0.55)], 5), 10
    else:
        raise ValueError(f"unknown shape {name!r}")
    angles = np.arange(corners) * 2 * np.pi / corners
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _polygon_mask(vertices: np.ndarray, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Pixels whose centre lies inside a simple polygon (even-odd rule)."""
    inside = np.zeros(xx.shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        if y0 == y1:
            continue
        crosses = (y0 > yy) != (y1 > yy)
        x_at = x0 + (yy - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xx < x_at)
    return inside


def _segment_mask(
    start: np.ndarray, end: np.ndarray, width: float, xx: np.ndarray, yy: np.ndarray
) -> np.ndarray:
    direction = end - start
    length2 = max(float(direction @ direction), 1e-9)
    t = np.clip(((xx - start[0]) * direction[0] + (yy - start[1]) * direction[1]) / length2, 0, 1)
    dx = xx - (start[0] + t * direction[0])
    dy = yy - (start[1] + t * direction[1])
    near: np.ndarray = dx**2 + dy**2 <= width**2
    return near
