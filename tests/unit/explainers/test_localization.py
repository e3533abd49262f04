"""Saliency-based localisation against shapes with known answers and a breadth-first oracle."""

from __future__ import annotations

from collections import deque

import pytest
import torch
from saliency_service.explainers.localization import box_from_map
from torch import Tensor


def _components(foreground: Tensor) -> list[set[tuple[int, int]]]:
    """The 8-connected components of a boolean map, by breadth-first search."""
    height, width = foreground.shape
    seen: set[tuple[int, int]] = set()
    components = []
    for first in map(tuple, torch.nonzero(foreground).tolist()):
        if first in seen:
            continue
        component, queue = {first}, deque([first])
        seen.add(first)
        while queue:
            y, x = queue.popleft()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    n = (y + dy, x + dx)
                    inside = 0 <= n[0] < height and 0 <= n[1] < width
                    if inside and n not in seen and bool(foreground[n]):
                        seen.add(n)
                        component.add(n)
                        queue.append(n)
        components.append(component)
    return components


def test_a_rectangle_gives_exactly_its_box() -> None:
    heatmap = torch.zeros(1, 20, 30)
    heatmap[0, 3:9, 5:17] = 2.0
    boxes, masks = box_from_map(heatmap)
    assert boxes.tolist() == [[5, 3, 17, 9]]
    assert torch.equal(masks, heatmap > 0)


def test_two_blobs_give_the_larger_ones_box() -> None:
    heatmap = torch.zeros(1, 20, 30)
    heatmap[0, 1:4, 1:4] = 1.0
    heatmap[0, 10:18, 12:29] = 0.8
    boxes, masks = box_from_map(heatmap, threshold=0.5)
    assert boxes.tolist() == [[12, 10, 29, 18]]
    assert int(masks.sum()) == 8 * 17


def test_the_threshold_is_relative_to_the_maximum() -> None:
    heatmap = torch.zeros(1, 20, 30)
    heatmap[0, 1:4, 1:4] = 10.0
    heatmap[0, 10:18, 12:29] = 4.0
    assert box_from_map(heatmap, threshold=0.5)[0].tolist() == [[1, 1, 4, 4]]
    assert box_from_map(heatmap, threshold=0.3)[0].tolist() == [[12, 10, 29, 18]]


def test_diagonal_neighbours_connect_and_a_long_snake_is_one_component() -> None:
    heatmap = torch.zeros(2, 21, 21)
    heatmap[0, 2:5, 2:5] = 1.0
    heatmap[0, 5:9, 5:9] = 1.0  # touches the first square only at a corner
    for row in range(0, 21, 4):
        heatmap[1, row, :] = 1.0
    for i, row in enumerate(range(0, 17, 4)):
        column = 20 if i % 2 == 0 else 0
        heatmap[1, row : row + 5, column] = 1.0
    boxes, masks = box_from_map(heatmap)
    assert boxes.tolist() == [[2, 2, 9, 9], [0, 0, 21, 21]]
    assert torch.equal(masks, heatmap > 0)


def test_no_positive_value_means_no_box() -> None:
    negative = -torch.rand(8, 8, generator=torch.Generator().manual_seed(0))
    boxes, masks = box_from_map(torch.stack([torch.zeros(8, 8), negative]))
    assert boxes.tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]
    assert not bool(masks.any())


@pytest.mark.parametrize("seed", range(6))
def test_random_maps_match_a_breadth_first_flood_fill(seed: int) -> None:
    heatmap = torch.rand(3, 17, 23, generator=torch.Generator().manual_seed(seed))
    boxes, masks = box_from_map(heatmap, threshold=0.7)
    for i in range(3):
        components = _components(heatmap[i] >= 0.7 * heatmap[i].max())
        size = max(len(c) for c in components)
        # Ties: the component whose last pixel in raster order comes first.
        chosen = min((c for c in components if len(c) == size), key=lambda c: max(c))
        assert set(map(tuple, torch.nonzero(masks[i]).tolist())) == chosen
        ys, xs = zip(*chosen, strict=True)
        assert boxes[i].tolist() == [min(xs), min(ys), max(xs) + 1, max(ys) + 1]


def test_batch_equals_one_map_at_a_time() -> None:
    heatmap = torch.rand(4, 16, 16, generator=torch.Generator().manual_seed(9))
    boxes, masks = box_from_map(heatmap, 0.6)
    for i in range(4):
        one_box, one_mask = box_from_map(heatmap[i : i + 1], 0.6)
        assert torch.equal(boxes[i : i + 1], one_box)
        assert torch.equal(masks[i : i + 1], one_mask)
