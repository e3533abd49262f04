"""Figures a person can read: the grid of maps and the accuracy plot, checked on their pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from saliency_client.errors import InvalidArgument
from saliency_client.figures import (
    PANEL_PX,
    Panel,
    save_accuracy_plot,
    save_gallery,
    save_grid,
)
from saliency_client.gallery import MethodMap
from saliency_client.overlay import signed_scale
from saliency_client.results import (
    AccuracyCurve,
    ClassExplanation,
    EvaluateReport,
    ExplainResult,
)

SIZE = 64
RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def blob(y: int, x: int, sign: float = 1.0) -> np.ndarray:
    """A Gaussian bump at (y, x) of height `sign`, in a 64 × 64 map."""
    rows, columns = np.mgrid[:SIZE, :SIZE]
    return (sign * np.exp(-((rows - y) ** 2 + (columns - x) ** 2) / 30.0)).astype(np.float32)


def read(path: Path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB")).astype(int)


def at(pixels: np.ndarray, box: object, y: int, x: int) -> np.ndarray:
    """The figure's pixel over map position (y, x) of a panel (boxes are PANEL_PX a side)."""
    scale = PANEL_PX / SIZE
    return pixels[box.top + int((y + 0.5) * scale), box.left + int((x + 0.5) * scale)]


def test_signed_scale_is_a_high_percentile_of_the_magnitude() -> None:
    values = np.linspace(-1.0, 1.0, 10_001).astype(np.float32)
    values[:3] = -1000.0  # a few extreme pixels must not set the scale
    assert signed_scale(values) == pytest.approx(float(np.percentile(np.abs(values), 99)))
    assert signed_scale(np.zeros((4, 4))) == 0.0
    # Non-finite values are left out: the 99th percentile of |0| and |2|.
    assert signed_scale(np.array([[0.0, np.nan], [np.inf, 2.0]])) == pytest.approx(1.98)


def test_the_grid_has_one_titled_readable_panel_per_method_on_the_signed_scale(
    tmp_path: Path,
) -> None:
    panels = [
        Panel("positive_map", heatmap=blob(16, 16), note="±1"),
        Panel("negative_map", heatmap=blob(48, 48, -1.0), note="±1"),
        Panel("tiny_map", heatmap=blob(16, 48) * 1e-6, note="±1e-6"),
        Panel("zero_map", heatmap=np.zeros((SIZE, SIZE), np.float32), note="zero"),
        Panel("picture", image=np.full((SIZE, SIZE, 3), 0.5, np.float32)
              + blob(32, 32)[..., None] / 4),
        Panel("a_method_with_a_much_longer_name", heatmap=blob(32, 32)),
        Panel("seventh", heatmap=blob(8, 56)),
    ]
    path = tmp_path / "grid.png"
    boxes = save_grid(path, IMAGE, panels, title="a grid", input_note="predicted x",
                      footer="attention: not applicable: the model has no attention")
    pixels = read(path)
    assert [b.title for b in boxes] == ["input"] + [p.title for p in panels]
    assert pixels.shape[1] >= 6 * PANEL_PX and pixels.shape[0] >= 2 * PANEL_PX  # 2 rows of 6
    for box in boxes:
        assert box.right - box.left >= 256 and box.bottom - box.top >= 256
        assert box.left >= 0 and box.right <= pixels.shape[1] and box.bottom <= pixels.shape[0]
        # A title is drawn in the band above each panel: dark ink, centred on it.
        band = pixels[box.top - 44:box.top - 20, box.left:box.right]
        ink = np.argwhere(band.sum(axis=2) < 200)
        assert len(ink) > 40, f"no title above {box.title}"
        centre = box.left + ink[:, 1].mean()
        assert abs(centre - (box.left + box.right) / 2) < 30
    long_title = next(b for b in boxes if b.title.startswith("a_method"))
    short_title = next(b for b in boxes if b.title == "seventh")
    widths = {b.title: np.ptp(np.argwhere(pixels[b.top - 44:b.top - 20, b.left:b.right]
                                          .sum(axis=2) < 200)[:, 1]) for b in (long_title,
                                                                                short_title)}
    assert widths[long_title.title] > 2 * widths[short_title.title]
    # The input is drawn as it is: its panel holds the input's colours, upscaled.
    assert np.abs(at(pixels, boxes[0], 10, 20) - IMAGE[10, 20]).max() <= 40
    by_title = {b.title: b for b in boxes}
    # Positive is red, negative blue, both at full strength on their own scale ...
    red = at(pixels, by_title["positive_map"], 16, 16)
    assert red[0] > red[2] + 60
    blue = at(pixels, by_title["negative_map"], 48, 48)
    assert blue[2] > blue[0] + 60
    # ... a map a million times weaker still shows (each map on its own scale) ...
    faint = at(pixels, by_title["tiny_map"], 16, 48)
    assert faint[0] > faint[2] + 60
    # ... and where a map is zero the grey image shows through, uncoloured.
    for title, (y, x) in (("positive_map", (50, 50)), ("zero_map", (16, 16))):
        grey = at(pixels, by_title[title], y, x)
        assert grey.max() - grey.min() <= 6
    panel = pixels[by_title["zero_map"].top:by_title["zero_map"].bottom,
                   by_title["zero_map"].left:by_title["zero_map"].right]
    assert panel.std() > 5, "the image shows under a zero map"
    # The method's own picture is drawn, contrast-stretched about mid-grey.
    centre = at(pixels, by_title["picture"], 32, 32)
    assert centre.min() > 230
    # One colour bar under the panels runs from blue to red.
    bottom = max(b.bottom for b in boxes)
    bar_rows = pixels[bottom:bottom + 60]
    reds = np.argwhere(bar_rows[..., 0] > bar_rows[..., 2] + 80)
    blues = np.argwhere(bar_rows[..., 2] > bar_rows[..., 0] + 80)
    assert len(reds) > 100 and len(blues) > 100
    assert blues[:, 1].mean() < reds[:, 1].mean()


def _answer(method: str, heatmap: np.ndarray | None = None, reason: str | None = None,
            error: str | None = None) -> MethodMap:
    if reason is not None:
        return MethodMap(method, {}, 0.1, not_applicable=reason)
    if error is not None:
        return MethodMap(method, {}, 0.1, error=InvalidArgument(error))
    found = ClassExplanation(2, "two", heatmap, diagnostics={"relative_completeness_gap": 0.01})
    return MethodMap(method, {}, 0.5, result=ExplainResult(2, "two", [found]))


def test_a_gallery_figure_has_a_panel_per_map_and_skips_what_does_not_apply(
    tmp_path: Path,
) -> None:
    answers = [_answer("grad_cam", blob(20, 20)), _answer("attention", reason="no attention"),
               _answer("bad", error="bad parameter"), _answer("saliency", blob(40, 40, -1.0))]
    boxes = save_gallery(tmp_path / "gallery.png", IMAGE, answers, title="gallery")
    assert [b.title for b in boxes] == ["input", "grad_cam", "saliency"]
    pixels = read(tmp_path / "gallery.png")
    assert at(pixels, boxes[1], 20, 20)[0] > at(pixels, boxes[1], 20, 20)[2] + 60
    assert at(pixels, boxes[2], 40, 40)[2] > at(pixels, boxes[2], 40, 40)[0] + 60
    # The reasons are written under the colour bar.
    footer = pixels[max(b.bottom for b in boxes) + 80:]
    assert (footer.sum(axis=2) < 400).sum() > 100


def test_the_accuracy_plot_draws_each_curve_through_its_points(tmp_path: Path) -> None:
    epsilons = [0.0, 2 / 255, 4 / 255, 8 / 255]
    report = EvaluateReport(
        clean_accuracy=1.0,
        curves=[AccuracyCurve("fgsm", epsilons, [1.0, 0.75, 0.5, 0.25], [1.0, 0.75, 0.5, 0.25]),
                AccuracyCurve("pgd", epsilons, [1.0, 0.5, 0.0, 0.0], [1.0, 0.5, 0.25, 0.0])],
        stability=[],
    )
    points = save_accuracy_plot(tmp_path / "acc.png", report, title="test")
    pixels = read(tmp_path / "acc.png")
    assert pixels.shape[:2] == (500, 800)
    colours = {"fgsm": np.array([31, 119, 180]), "pgd": np.array([255, 127, 14])}  # C0, C1
    for attack, where in points.items():
        assert len(where) == 4
        xs = [x for x, _ in where]
        assert xs == sorted(xs) and len(set(xs)) == 4, "ε grows to the right"
        for x, y in where[1:]:  # at ε = 0 both curves meet, and the later one covers the other
            patch = pixels[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3)
            distance = np.abs(patch - colours[attack]).sum(axis=1).min()
            assert distance < 60, f"{attack}'s marker at {(x, y)} is not drawn in its colour"
    # Accuracy 1.0 is drawn above accuracy 0.25: y grows downwards.
    assert points["fgsm"][0][1] < points["fgsm"][3][1]
    assert points["pgd"][2][1] == points["pgd"][3][1]
