"""`saliency assess`: judge methods' maps of images by metrics, with progress, as a table."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import numpy.typing as npt

from saliency_client._cli_support import find_model, out, read_image, value
from saliency_client.arrays import ParamValue
from saliency_client.client import SaliencyClient
from saliency_client.png import decode_png
from saliency_client.results import AssessReport

Named = tuple[str, dict[str, ParamValue]]


def named(text: str) -> Named:
    """An argparse type: NAME or NAME:PARAM=VALUE,PARAM=VALUE (values as --param reads them)."""
    name, _, rest = text.partition(":")
    params: dict[str, ParamValue] = {}
    for pair in filter(None, rest.split(",")):
        key, equals, raw = pair.partition("=")
        if not equals or not key:
            raise argparse.ArgumentTypeError(f"expected PARAM=VALUE after ':', got '{pair}'")
        params[key] = value(raw)
    if not name:
        raise argparse.ArgumentTypeError(f"expected NAME[:PARAM=VALUE,...], got '{text}'")
    return name, params


def add_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("images", nargs="+", metavar="IMAGE")
    sub.add_argument("--method", dest="methods", action="append", required=True,
                     type=named, metavar="NAME[:PARAM=VALUE,...]",
                     help="an explanation method (repeatable)")
    sub.add_argument("--metric", dest="metrics", action="append", required=True,
                     type=named, metavar="NAME[:PARAM=VALUE,...]",
                     help="a metric (repeatable; `saliency methods` lists them)")
    sub.add_argument("--target-class", type=int, help="class to assess (default: predicted)")
    sub.add_argument("--mask", dest="masks", action="append", metavar="PNG",
                     help="ground-truth mask per image, in order: nonzero on the object")
    sub.add_argument("--json", metavar="FILE", help="also write the full report (per-image "
                     "values and curves) as JSON")


def run(client: SaliencyClient, args: argparse.Namespace) -> int:
    """Send the assessment, show progress on stderr, print the method × metric table."""
    masks = None
    if args.masks:
        if len(args.masks) != len(args.images):
            raise ValueError(f"give one --mask per image ({len(args.images)}), "
                             f"got {len(args.masks)}")
        masks = [_mask(path) for path in args.masks]

    def progress(fraction: float, stage: str) -> None:
        sys.stderr.write(f"\r[{fraction:4.0%}] {stage[:70]:<70}")
        sys.stderr.flush()

    report = client.assess(
        [read_image(path)[0] for path in args.images], model=find_model(client, args.model).name,
        methods=args.methods,
        metrics=args.metrics, targets=args.target_class, masks=masks, progress=progress,
    )
    sys.stderr.write("\n")
    for line in table(report):
        out(line)
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=1, default=_plain))
        out(f"wrote {args.json}")
    return 0


def table(report: AssessReport) -> list[str]:
    """The means as a method × metric table; ↑ marks metrics where higher is better."""
    if not report.methods:
        return []
    heads = [f"{m.name}{' ↑' if m.higher_is_better else ' ↓'}" for m in report.methods[0].metrics]
    rows = [["METHOD", *heads]]
    rows += [[m.method, *(_number(r.mean) for r in m.metrics)] for m in report.methods]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _mask(path: str) -> npt.NDArray[np.uint8]:
    pixels = decode_png(Path(path).read_bytes())
    mask: npt.NDArray[np.uint8] = (pixels.reshape(*pixels.shape[:2], -1).max(axis=2) > 0).astype(
        np.uint8)
    return mask


def _plain(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
