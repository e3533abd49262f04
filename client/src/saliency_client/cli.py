"""`saliency`: list models and methods, predict, explain and attack from the shell.

Images are sent as their encoded files; the CLI decodes them only to draw overlays, with the
built-in PNG codec, or with Pillow (the `images` extra) for other formats.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from saliency_client._cli_connection import add_connection_options, connect
from saliency_client.arrays import ParamValue
from saliency_client.client import SaliencyClient
from saliency_client.errors import SaliencyError
from saliency_client.overlay import save_image, save_overlay
from saliency_client.png import decode_png
from saliency_client.results import ModelInfo

_Command = Callable[[SaliencyClient, argparse.Namespace], int]
# Names the client's methods take as arguments of their own; the CLI has options for them.
_RESERVED = frozenset({"images", "model", "method", "targets", "top_k", "priority", "labels",
                       "target_classes", "eps"})


def _out(line: str = "") -> None:
    print(line)  # noqa: T201  # the CLI's output is its purpose


def _fraction(text: str) -> float:
    """Parse "0.03" or "8/255"; raise ValueError otherwise."""
    numerator, slash, denominator = text.partition("/")
    try:
        return float(numerator) / float(denominator) if slash else float(text)
    except ZeroDivisionError:
        raise ValueError(f"'{text}' divides by zero") from None


def parse_number(text: str) -> float:
    try:
        return _fraction(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a number or a fraction like 8/255"
        ) from None


def parse_param(text: str, reserved: frozenset[str] = _RESERVED) -> tuple[str, ParamValue]:
    """Parse NAME=VALUE: true/false is a flag, then an integer, a number, else text (also
    used by `saliency bulk`, whose commands reserve other names)."""
    name, equals, raw = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    if name in reserved:
        raise argparse.ArgumentTypeError(f"'{name}' is set by its own option, not --param")
    if raw.lower() in ("true", "false"):
        return name, raw.lower() == "true"
    for convert in (int, _fraction):
        try:
            return name, convert(raw)
        except ValueError:
            continue
    return name, raw


def _read_image(path: str) -> tuple[bytes, npt.NDArray[np.uint8]]:
    """Return an image file's bytes (to send) and its pixels (to draw on)."""
    data = Path(path).read_bytes()
    try:
        return data, decode_png(data)
    except ValueError as png_error:
        try:
            from PIL import Image  # optional: only for formats the built-in codec cannot read
        except ImportError:
            raise ValueError(
                f"cannot read {path}: {png_error}; install Pillow for other formats "
                "(pip install 'saliency-client[images]')"
            ) from None
    with Image.open(path) as image:
        return data, np.asarray(image.convert("RGB"))


def _model(client: SaliencyClient, name: str | None) -> ModelInfo:
    if name is not None:
        return client.get_model(name)
    models = [m for m in client.list_models() if m.ready]
    if not models:
        raise ValueError("the server has no ready models")
    return models[0]


def _class(model: ModelInfo, index: int) -> str:
    return f"{index} ({model.labels[index]})" if 0 <= index < len(model.labels) else str(index)


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        _out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _models(client: SaliencyClient, args: argparse.Namespace) -> int:
    rows = [["NAME", "ARCHITECTURE", "INPUT", "CLASSES", "ONNX GAP (ABS / REL)", "DEVICE"]]
    for m in client.list_models():
        if not m.ready:
            rows.append([m.name, f"not ready: {m.status}", "", "", "", ""])
            continue
        size = f"{m.input_height}x{m.input_width}x{m.input_channels}"
        gap = f"{m.onnx_max_abs_logit_gap:.2e} / {m.onnx_max_rel_logit_gap:.2e}"
        rows.append([m.name, m.architecture, size, str(len(m.labels)), gap, m.device])
    _table(rows)
    return 0


def _methods(client: SaliencyClient, args: argparse.Namespace) -> int:
    rows = [["NAME", "KIND", "PARAMETERS (DEFAULT)"]]
    for method in client.list_methods():
        params = ", ".join(f"{p.name}={p.default}" for p in method.params)
        rows.append([method.name, method.kind, params])
    _table(rows)
    return 0


def _predict(client: SaliencyClient, args: argparse.Namespace) -> int:
    files = [_read_image(path)[0] for path in args.images]
    model = _model(client, args.model)
    failed = 0
    for path, prediction in zip(
        args.images, client.predict(files, model=model.name, top_k=args.top_k), strict=True
    ):
        if prediction.error is not None:
            _out(f"{path}: error: {prediction.error.details}")
            failed += 1
            continue
        _out(path)
        for score in prediction.top:
            label = _class(model, score.index)
            _out(f"  {score.probability:7.2%}  logit {score.logit:8.3f}  {label}")
    return 1 if failed else 0


def _explain(client: SaliencyClient, args: argparse.Namespace) -> int:
    data, pixels = _read_image(args.image)
    model = _model(client, args.model)
    (result,) = client.explain(
        data, model=model.name, method=args.method, targets=args.target_class, **dict(args.param)
    )
    result.raise_for_error()
    explanation = result.explanations[0]
    _out(f"predicted: {_class(model, result.predicted_class)}")
    _out(f"explained: {_class(model, explanation.target)}")
    for name, value in sorted(explanation.diagnostics.items()):
        _out(f"  {name}: {value:.6g}")
    if explanation.heatmap.size:
        save_overlay(args.output, pixels, explanation.heatmap, alpha=args.alpha)
    elif explanation.image is not None:  # methods that make an image rather than a map
        save_image(args.output, explanation.image)
    _out(f"wrote {args.output}")
    if args.raw is not None:
        np.save(args.raw, explanation.heatmap)
        _out(f"wrote {args.raw}")
    return 0


def _attack(client: SaliencyClient, args: argparse.Namespace) -> int:
    data, _ = _read_image(args.image)
    model = _model(client, args.model)
    params = {"steps": args.steps} | dict(args.param)
    (result,) = client.attack(
        data, model=model.name, method=args.method, eps=args.eps, labels=args.label,
        target_classes=args.target_class, **params,
    )
    result.raise_for_error()
    _out(f"label before:         {_class(model, result.label_before)}")
    _out(f"label after (torch):  {_class(model, result.label_after_torch)}")
    _out(f"label after (ONNX):   {_class(model, result.label_after_onnx)}")
    _out(f"eps {result.eps:.6g}  L-inf {result.linf:.6g}  L2 {result.l2:.6g}")
    agreement = "engines agree" if result.engines_agree else "torch and ONNX Runtime DISAGREE"
    _out(f"success: {'yes' if result.success else 'no'} ({agreement})")
    if result.adversarial is not None:
        save_image(args.output, result.adversarial)
        _out(f"wrote {args.output}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saliency", description="Explain and attack image classifiers on saliency-service."
    )
    add_connection_options(parser)
    parser.add_argument("--model", help="model name (default: the server's first model)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "bulk", add_help=False,
        help="explain, attack or evaluate a whole data set on Ray: `saliency bulk --help` "
        "(runs the server package, with its bulk extra)",
    )

    def command(name: str, run: _Command, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary)
        sub.set_defaults(run=run)
        return sub

    command("models", _models, "list the server's models")
    command("methods", _methods, "list explanation and attack methods")
    predict = command("predict", _predict, "print the best classes of images")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--top-k", type=int, default=5)
    explain = command("explain", _explain, "write a heatmap overlay of an image")
    explain.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity")
    explain.add_argument("--raw", metavar="NPY", help="also save the raw heatmap (.npy)")
    attack = command("attack", _attack, "write an adversarial example")
    attack.add_argument("--method", default="pgd")
    attack.add_argument("--eps", type=parse_number, help="budget in [0, 1], e.g. 8/255")
    attack.add_argument("--steps", type=int)
    attack.add_argument("--label", type=int, help="true class (default: predicted)")
    explain.add_argument("--method", required=True)
    for sub in (explain, attack):
        sub.add_argument("image", metavar="IMAGE")
        sub.add_argument("--target-class", type=int)
        sub.add_argument("--param", type=parse_param, action="append", default=[],
                         metavar="NAME=VALUE", help="a method parameter (repeatable)")
        sub.add_argument("-o", "--output", required=True, metavar="PNG")
    return parser


def _bulk(argv: list[str]) -> int:
    """`saliency bulk ...`: jobs over whole data sets run torch and Ray, which this thin client
    never imports; they are the server package's, when it is installed with its bulk extra."""
    try:
        bulk = importlib.import_module("saliency_service.bulk.cli")
    except ImportError as error:
        print(  # noqa: T201
            f"saliency: error: `saliency bulk` needs the server package with its bulk extra "
            f"(pip install 'saliency-service[bulk]'); cannot import {error.name}",
            file=sys.stderr,
        )
        return 1
    status: int = bulk.main(argv)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 1 error, 2 bad usage, 130 interrupted)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bulk"]:
        return _bulk(arguments[1:])
    args = _parser().parse_args(arguments)
    if args.command == "bulk":  # global options before it mean nothing to a bulk job
        _parser().error("`bulk` must come first: saliency bulk explain|attack|evaluate ...")
    try:
        with connect(args) as client:
            status: int = args.run(client, args)
            return status
    except SaliencyError as error:
        message = f"{error.code.name.lower().replace('_', ' ')}: {error.details}"
    except (OSError, ValueError) as error:
        message = str(error)
    except KeyboardInterrupt:
        return 130
    print(f"saliency: error: {message}", file=sys.stderr)  # noqa: T201
    return 1
