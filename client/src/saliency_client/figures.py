"""Figures a person can read: an image beside every method's map, and accuracy against ε.

Needs the `figures` extra (`pip install 'saliency-client[figures]'`: matplotlib). Figures are
drawn on matplotlib's Agg canvas directly, never through pyplot, so drawing one touches no
global state and needs no display.

Every map is drawn on one signed colour scale: blue below zero, no colour at zero, red above,
full colour at ± the map's own scale (`overlay.signed_scale`), which its panel states. One colour
bar serves the whole figure.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

try:
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.text import Text
except ImportError as missing:  # the extra is not installed
    raise ImportError(
        "figures need matplotlib: pip install 'saliency-client[figures]'"
    ) from missing

from saliency_client.gallery import MethodMap
from saliency_client.overlay import signed_scale, stretched
from saliency_client.results import EvaluateReport

Array = npt.NDArray[np.generic]

COLORMAP = "RdBu_r"
"""A diverging map (Moreland 2009): the eye reads its white middle as zero and both ends as
equally strong, which a rainbow map (jet) does not allow."""
PANEL_PX = 280  # each picture's side: a 64-px input becomes readable
_TITLE_PX, _GAP_PX, _HEADER_PX, _BAR_PX, _DPI = 46, 14, 44, 96, 100
_MAX_COLUMNS = 6
_OVERLAY_ALPHA = 0.85


@dataclass(frozen=True, eq=False)
class Panel:
    """One panel of a grid: a method's map over the image, or a picture of its own."""

    title: str
    heatmap: Array | None = None
    """The raw signed map (H, W), drawn over the image on the signed scale."""
    image: Array | None = None
    """A picture to draw instead (a class-model visualisation): (H, W, C) in [0, 1] or uint8."""
    note: str = ""
    """One short line under the title: the scale, the time taken, a diagnostic."""


@dataclass(frozen=True)
class PanelBox:
    """Where a panel's picture lies in the written PNG, in pixels (right, bottom exclusive)."""

    title: str
    left: int
    top: int
    right: int
    bottom: int


def _rgb(image: Array) -> npt.NDArray[np.float64]:
    pixels = image.astype(np.float64)
    if image.dtype == np.uint8:
        pixels /= 255.0
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.clip(pixels[:, :, :3], 0.0, 1.0)


def underlay(image: Array) -> npt.NDArray[np.float64]:
    """The image in light grey, for maps drawn over it: the map's colours must not mix with the
    image's own (a red object under a red map would read as evidence).

    Shape:
        image: (H, W) or (H, W, C); returns (H, W, 3) in [0, 1].
    """
    grey = _rgb(image) @ np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma
    return np.repeat((0.3 + 0.55 * grey)[:, :, None], 3, axis=2)


def signed_rgba(heatmap: Array, scale: float, alpha: float = _OVERLAY_ALPHA) -> npt.NDArray[
    np.float64
]:
    """Colour a map on the signed scale: colour by value / scale, opacity by its magnitude.

    Zero is transparent, so the image shows where the map says nothing.

    Shape:
        heatmap: (H, W); returns (H, W, 4) RGBA in [0, 1].
    """
    values = np.nan_to_num(heatmap.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    levels = np.clip(values / scale, -1.0, 1.0) if scale > 0 else np.zeros(values.shape)
    rgba: npt.NDArray[np.float64] = colormaps[COLORMAP](Normalize(-1.0, 1.0)(levels))
    rgba[..., 3] = alpha * np.abs(levels)
    return rgba


def _draw_panel(figure: Figure, box: PanelBox, size: tuple[int, int], image: Array,
                panel: Panel, *, is_input: bool, renderer: RendererAgg) -> None:
    width, height = size
    axes = figure.add_axes((box.left / width, 1 - box.bottom / height,
                            (box.right - box.left) / width, (box.bottom - box.top) / height))
    axes.set_axis_off()
    if panel.image is not None:
        picture = _rgb(panel.image) if is_input else stretched(panel.image)
    elif panel.heatmap is not None:
        picture = underlay(image)
    else:
        picture = _rgb(image)
    rows, columns = picture.shape[:2]
    extent = (0.0, float(columns), float(rows), 0.0)
    axes.imshow(picture, interpolation="bilinear", extent=extent)
    if panel.image is None and panel.heatmap is not None and panel.heatmap.size:
        scale = signed_scale(panel.heatmap)
        axes.imshow(signed_rgba(panel.heatmap, scale), interpolation="bilinear", extent=extent)
    axes.set_xlim(0, columns)
    axes.set_ylim(rows, 0)
    centre = (box.left + box.right) / 2 / width
    for text, offset, points, weight in ((panel.title, 24, 13.0, "bold"),
                                         (panel.note, 6, 9.0, "normal")):
        if text:
            label = figure.text(centre, 1 - (box.top - offset) / height, text, ha="center",
                                va="bottom", fontsize=points, fontweight=weight,
                                color="#222222")
            _fit(label, box.right - box.left - 6, renderer)


def _fit(label: Text, width: float, renderer: RendererAgg) -> None:
    """Shrink a label's font until it fits `width` pixels, so no title runs into the next."""
    drawn = label.get_window_extent(renderer).width
    if drawn > width:
        label.set_fontsize(float(label.get_fontsize()) * width / drawn)


def _colour_bar(figure: Figure, size: tuple[int, int], top: int) -> None:
    width, height = size
    bar_width = min(width - 2 * _GAP_PX, 640)
    axes = figure.add_axes(((width - bar_width) / 2 / width, 1 - (top + 16) / height,
                            bar_width / width, 16 / height))
    bar = figure.colorbar(ScalarMappable(Normalize(-1.0, 1.0), colormaps[COLORMAP]), cax=axes,
                          orientation="horizontal")
    bar.set_ticks([-1.0, -0.5, 0.0, 0.5, 1.0], labels=["−scale", "−½", "0", "+½", "+scale"])
    bar.set_label("each map ÷ its scale (± under its name): blue negative, red positive",
                  fontsize=10)


def save_grid(
    path: str | os.PathLike[str],
    image: Array,
    panels: Sequence[Panel],
    *,
    title: str,
    input_note: str = "",
    footer: str = "",
) -> list[PanelBox]:
    """Write one figure: the input, then each panel, each `PANEL_PX` pixels a side, titled, with
    one colour bar for the signed scale.

    Args:
        path: the PNG to write.
        image: the input picture, uint8 or floats in [0, 1], grey or RGB.
        panels: one per method, in order.
        title: the figure's title (model, image, class explained).
        input_note: a line under the input's title (the predicted class).
        footer: text under the colour bar (the methods that do not apply, and why).

    Returns:
        The input's box, then each panel's, in the written PNG's pixels.

    Shape:
        image: (H, W) or (H, W, C); every heatmap (H, W) at the image's resolution or any other
        (it is stretched over the image).
    """
    count = 1 + len(panels)
    columns = min(count, _MAX_COLUMNS)
    rows = math.ceil(count / columns)
    cell = _TITLE_PX + PANEL_PX + _GAP_PX
    footer_lines = textwrap.wrap(footer, width=max(40, columns * (PANEL_PX + _GAP_PX) // 7))
    width = _GAP_PX + columns * (PANEL_PX + _GAP_PX)
    height = _HEADER_PX + rows * cell + _BAR_PX + 16 * len(footer_lines)
    figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    renderer = FigureCanvasAgg(figure).get_renderer()  # type: ignore[no-untyped-call]
    figure.text(0.5, 1 - 28 / height, title, ha="center", va="baseline", fontsize=15)
    boxes = []
    for index, panel in enumerate([Panel("input", image=image, note=input_note), *panels]):
        left = _GAP_PX + (index % columns) * (PANEL_PX + _GAP_PX)
        top = _HEADER_PX + (index // columns) * cell + _TITLE_PX
        box = PanelBox(panel.title, left, top, left + PANEL_PX, top + PANEL_PX)
        _draw_panel(figure, box, (width, height), image, panel, is_input=index == 0,
                    renderer=renderer)
        boxes.append(box)
    bar_top = _HEADER_PX + rows * cell
    _colour_bar(figure, (width, height), bar_top)
    for line_index, line in enumerate(footer_lines):
        figure.text(_GAP_PX / width, 1 - (bar_top + _BAR_PX + 16 * line_index) / height, line,
                    ha="left", va="bottom", fontsize=9, color="#444444")
    figure.savefig(path, dpi=_DPI, facecolor="white")
    return boxes


def _note(answer: MethodMap) -> str:
    assert answer.result is not None  # only answers with a result are panels
    found = answer.result.explanations[0]
    scale = signed_scale(found.heatmap) if found.heatmap.size else 0.0
    parts = [f"±{scale:.2g}" if scale > 0 else "zero everywhere", f"{answer.seconds:.2f} s"]
    gap = found.diagnostics.get("relative_completeness_gap")
    if gap is not None:
        parts.append(f"completeness gap {gap:.1%}")
    return " · ".join(parts)


def save_gallery(
    path: str | os.PathLike[str],
    image: Array,
    answers: Sequence[MethodMap],
    *,
    title: str,
    input_note: str = "",
) -> list[PanelBox]:
    """`save_grid` of a gallery's answers: a panel per map (the first class asked for), and
    the methods that do not apply or failed listed under the colour bar with their reasons."""
    panels = [
        Panel(a.method, heatmap=a.result.explanations[0].heatmap,
              image=a.result.explanations[0].image, note=_note(a))
        for a in answers if a.result is not None and a.result.explanations
    ]
    reasons: dict[str, list[str]] = {}  # methods grouped by the server's reason
    for answer in answers:
        if answer.not_applicable is not None:
            reasons.setdefault(f"not applicable: {answer.not_applicable}", []).append(answer.method)
        elif answer.error is not None:
            reasons.setdefault(f"failed: {answer.error.details}", []).append(answer.method)
    footer = " ".join(f"{', '.join(methods)}: {reason}." for reason, methods in reasons.items())
    return save_grid(path, image, panels, title=title, input_note=input_note, footer=footer)


def _in_255ths(epsilons: Sequence[float]) -> bool:
    return all(abs(e * 255 - round(e * 255)) < 1e-6 and e <= 1 for e in epsilons)


def save_accuracy_plot(
    path: str | os.PathLike[str], report: EvaluateReport, *, title: str = ""
) -> dict[str, list[tuple[int, int]]]:
    """Write accuracy against ε, one colour per attack: torch solid, ONNX Runtime dashed, the
    clean accuracy dotted.

    Returns:
        For each attack, where its torch points lie in the written PNG, in pixels (x, y from the
        top left).
    """
    epsilons = [e for curve in report.curves for e in curve.epsilons]
    scaled = _in_255ths(epsilons)
    figure = Figure(figsize=(8, 5), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for index, curve in enumerate(report.curves):
        colour = f"C{index}"
        xs = [e * 255 if scaled else e for e in curve.epsilons]
        axes.plot(xs, curve.accuracy, "-o", color=colour, linewidth=2.5,
                  label=f"{curve.attack} (torch)")
        axes.plot(xs, curve.onnx_accuracy, "--s", color=colour, linewidth=1.5,
                  markerfacecolor="none", label=f"{curve.attack} (ONNX Runtime)")
    axes.axhline(report.clean_accuracy, linestyle=":", color="grey",
                 label=f"clean accuracy {report.clean_accuracy:.0%}")
    axes.set_ylim(-0.03, 1.03)
    axes.set_xlabel("ε (L∞ budget, in 1/255)" if scaled else "ε")
    axes.set_ylabel("accuracy")
    axes.set_title(title or "accuracy under attack")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=9)
    figure.tight_layout()
    figure.canvas.draw()
    height = figure.bbox.height
    points = {}
    for curve in report.curves:
        xs = [e * 255 if scaled else e for e in curve.epsilons]
        pixels = axes.transData.transform(np.column_stack([xs, curve.accuracy]))
        points[curve.attack] = [(round(x), round(height - y)) for x, y in pixels]
    figure.savefig(path, dpi=_DPI, facecolor="white")
    return points
