"""What the `saliency` commands share: reading images and arguments, finding the model, output.

Images are sent as their encoded files; the CLI decodes them only to draw on them, with the
built-in PNG codec, or with Pillow (the `images` extra) for other formats.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from saliency_client.arrays import ParamValue
from saliency_client.client import SaliencyClient
from saliency_client.png import decode_png
from saliency_client.results import MethodInfo, ModelInfo

# Names the client's methods take as arguments of their own; the CLI has options for them.
RESERVED = frozenset({"images", "model", "method", "targets", "top_k", "priority", "labels",
                      "target_classes", "eps"})
Param = tuple[str, ParamValue]
"""A --param: (NAME or METHOD.NAME, value)."""


def out(line: str = "") -> None:
    """Print a line of the command's output."""
    print(line)  # noqa: T201  # the CLI's output is its purpose


def fraction(text: str) -> float:
    """Parse "0.03" or "8/255"; raise ValueError otherwise."""
    numerator, slash, denominator = text.partition("/")
    try:
        return float(numerator) / float(denominator) if slash else float(text)
    except ZeroDivisionError:
        raise ValueError(f"'{text}' divides by zero") from None


def number(text: str) -> float:
    """An argparse type: a number or a fraction such as 8/255."""
    try:
        return fraction(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a number or a fraction like 8/255"
        ) from None


def numbers(text: str) -> list[float]:
    """An argparse type: a comma-separated list of numbers or fractions."""
    return [number(part) for part in text.split(",") if part.strip()]


def integers(text: str) -> list[int]:
    """An argparse type: a comma-separated list of integers."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list like 0,3,5") from None


def param(text: str, reserved: frozenset[str] = RESERVED) -> Param:
    """Parse [METHOD.]NAME=VALUE: true/false is a flag, then an integer, a number, else text.

    `reserved` names have options of their own (`saliency bulk` reserves none: its jobs have
    no per-image ε).
    """
    name, equals, raw = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    if name.rpartition(".")[2] in reserved:
        raise argparse.ArgumentTypeError(f"'{name}' is set by its own option, not --param")
    return name, value(raw)


def value(raw: str) -> ParamValue:
    """true/false is a flag, then an integer, a number (or fraction), else text."""
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for convert in (int, fraction):
        try:
            return convert(raw)
        except ValueError:
            continue
    return raw


def params_for(method: str, given: list[Param], offered: list[MethodInfo] | None = None) -> (
    dict[str, Any]
):
    """The parameters of `method` among --param values.

    METHOD.NAME goes to that method only. A plain NAME goes to every method when `offered` is
    None (one method: the server judges it), else only to the methods that declare it.
    """
    declared = None
    if offered is not None:
        declared = {p.name for m in offered if m.name == method for p in m.params}
    chosen: dict[str, Any] = {}
    for name, value in given:
        owner, dot, own = name.rpartition(".")
        if dot and owner == method:
            chosen[own] = value
        elif not dot and (declared is None or name in declared):
            chosen[name] = value
    return chosen


def check_params(given: list[Param], methods: list[str], offered: list[MethodInfo]) -> None:
    """Refuse a --param that reaches none of `methods`.

    Raises:
        ValueError: the parameter's method was not chosen, or no chosen method takes it.
    """
    declared = {p.name for m in offered if m.name in methods for p in m.params}
    for name, _ in given:
        owner, dot, own = name.rpartition(".")
        if dot and owner not in methods:
            raise ValueError(f"--param {name}: '{owner}' is not among the chosen methods")
        if not dot and own not in declared:
            raise ValueError(f"--param {name}: none of the chosen methods takes '{own}'")


def read_image(path: str) -> tuple[bytes, npt.NDArray[np.uint8]]:
    """Return an image file's bytes (to send) and its pixels (to draw on)."""
    data = Path(path).read_bytes()
    try:
        return data, decode_png(data)
    except ValueError as png_error:
        try:
            from PIL import Image, ImageOps  # optional: for formats the built-in codec cannot read
        except ImportError:
            raise ValueError(
                f"cannot read {path}: {png_error}; install Pillow for other formats "
                "(pip install 'saliency-client[images]')"
            ) from None
    with Image.open(path) as image:
        # Upright as the server decodes it, so the map lies over the picture it explains.
        return data, np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def find_model(client: SaliencyClient, name: str | None) -> ModelInfo:
    """The named model, or the server's first ready one."""
    if name is not None:
        return client.get_model(name)
    models = [m for m in client.list_models() if m.ready]
    if not models:
        raise ValueError("the server has no ready models")
    return models[0]


def class_name(model: ModelInfo, index: int) -> str:
    """"2 (square)": a class index with its label."""
    return f"{index} ({model.labels[index]})" if 0 <= index < len(model.labels) else str(index)


def table(rows: list[list[str]]) -> None:
    """Print rows as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
