"""`saliency`: list models and methods, predict, explain, attack, evaluate and assess.

    saliency explain cat.png --method grad_cam -o cat_gradcam.png
    saliency explain cat.png --methods all --grid cat_maps.png      # one figure, every method
    saliency evaluate a.png b.png --labels 3,5 --attack fgsm --attack pgd \\
        --eps 0,2/255,8/255 --plot accuracy.png

Figures (`--grid`, `--plot`) need the `figures` extra: pip install 'saliency-client[figures]'.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

import numpy as np

from saliency_client import _assess_cli, _cli_reports
from saliency_client._cli_connection import add_connection_options, connect
from saliency_client._cli_support import (
    class_name,
    find_model,
    integers,
    number,
    numbers,
    out,
    param,
    params_for,
    read_image,
    table,
)
from saliency_client.client import SaliencyClient
from saliency_client.errors import SaliencyError
from saliency_client.overlay import save_image, save_overlay

_Command = Callable[[SaliencyClient, argparse.Namespace], int]


def _models(client: SaliencyClient, args: argparse.Namespace) -> int:
    rows = [["NAME", "ARCHITECTURE", "INPUT", "CLASSES", "ONNX GAP (ABS / REL)", "DEVICE"]]
    for m in client.list_models():
        if not m.ready:
            rows.append([m.name, f"not ready: {m.status}", "", "", "", ""])
            continue
        size = f"{m.input_height}x{m.input_width}x{m.input_channels}"
        gap = f"{m.onnx_max_abs_logit_gap:.2e} / {m.onnx_max_rel_logit_gap:.2e}"
        rows.append([m.name, m.architecture, size, str(len(m.labels)), gap, m.device])
    table(rows)
    return 0


def _methods(client: SaliencyClient, args: argparse.Namespace) -> int:
    rows = [["NAME", "KIND", "PARAMETERS (DEFAULT)"]]
    for method in client.list_methods():
        params = ", ".join(f"{p.name}={p.default}" for p in method.params)
        rows.append([method.name, method.kind, params])
    for metric in client.list_metrics():
        params = ", ".join(f"{p.name}={p.default}" for p in metric.params)
        rows.append([metric.name, f"metric ({metric.family})", params])
    table(rows)
    return 0


def _predict(client: SaliencyClient, args: argparse.Namespace) -> int:
    files = [read_image(path)[0] for path in args.images]
    model = find_model(client, args.model)
    failed = 0
    for path, prediction in zip(
        args.images, client.predict(files, model=model.name, top_k=args.top_k), strict=True
    ):
        if prediction.error is not None:
            out(f"{path}: error: {prediction.error.details}")
            failed += 1
            continue
        out(path)
        for score in prediction.top:
            label = class_name(model, score.index)
            out(f"  {score.probability:7.2%}  logit {score.logit:8.3f}  {label}")
    return 1 if failed else 0


def _explain(client: SaliencyClient, args: argparse.Namespace) -> int:
    if args.methods is not None or args.grid is not None:
        return _cli_reports.explain_grid(client, args)
    if args.output is None:
        raise ValueError("give -o PNG for the overlay, or --grid PNG for a figure")
    data, pixels = read_image(args.image)
    model = find_model(client, args.model)
    (result,) = client.explain(
        data, model=model.name, method=args.method, targets=args.target_class,
        **params_for(args.method, args.param),
    )
    result.raise_for_error()
    explanation = result.explanations[0]
    out(f"predicted: {class_name(model, result.predicted_class)}")
    out(f"explained: {class_name(model, explanation.target)}")
    for name, value in sorted(explanation.diagnostics.items()):
        out(f"  {name}: {value:.6g}")
    if explanation.image is not None:  # methods that make an image rather than a map
        save_image(args.output, explanation.image)
    elif explanation.heatmap.size:
        save_overlay(args.output, pixels, explanation.heatmap, alpha=args.alpha)
    out(f"wrote {args.output}")
    if args.raw is not None:
        np.save(args.raw, explanation.heatmap)
        out(f"wrote {args.raw}")
    return 0


def _attack(client: SaliencyClient, args: argparse.Namespace) -> int:
    if args.output is None:
        raise ValueError("give -o PNG for the adversarial image")
    data, _ = read_image(args.image)
    model = find_model(client, args.model)
    params = {"steps": args.steps} | params_for(args.method, args.param)
    (result,) = client.attack(
        data, model=model.name, method=args.method, eps=args.eps, labels=args.label,
        target_classes=args.target_class, **params,
    )
    result.raise_for_error()
    out(f"label before:         {class_name(model, result.label_before)}")
    out(f"label after (torch):  {class_name(model, result.label_after_torch)}")
    out(f"label after (ONNX):   {class_name(model, result.label_after_onnx)}")
    out(f"eps {result.eps:.6g}  L-inf {result.linf:.6g}  L2 {result.l2:.6g}")
    agreement = "engines agree" if result.engines_agree else "torch and ONNX Runtime DISAGREE"
    out(f"success: {'yes' if result.success else 'no'} ({agreement})")
    if result.adversarial is not None:
        save_image(args.output, result.adversarial)
        out(f"wrote {args.output}")
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

    def params(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--param", type=param, action="append", default=[],
                         metavar="[METHOD.]NAME=VALUE",
                         help="a method parameter (repeatable); METHOD. limits it to one method")

    command("models", _models, "list the server's models")
    command("methods", _methods, "list explanation and attack methods, and metrics")
    predict = command("predict", _predict, "print the best classes of images")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--top-k", type=int, default=5)
    explain = command("explain", _explain,
                      "write a heatmap overlay, or one figure of several methods")
    which = explain.add_mutually_exclusive_group(required=True)
    which.add_argument("--method", help="one method")
    which.add_argument("--methods", metavar="LIST",
                       help="comma-separated methods, or 'all': every method the server offers "
                       "(those that do not apply to the model are listed with the reason)")
    explain.add_argument("--grid", metavar="PNG",
                         help="one figure: the input and each method's map, titled, with a "
                         "colour bar")
    explain.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity")
    explain.add_argument("--raw", metavar="NPY", help="also save the raw heatmap (.npy)")
    attack = command("attack", _attack, "write an adversarial example")
    attack.add_argument("--method", default="pgd")
    attack.add_argument("--eps", type=number, help="budget in [0, 1], e.g. 8/255")
    attack.add_argument("--steps", type=int)
    attack.add_argument("--label", type=int, help="true class (default: predicted)")
    for sub in (explain, attack):
        sub.add_argument("image", metavar="IMAGE")
        sub.add_argument("--target-class", type=int)
        params(sub)
        sub.add_argument("-o", "--output", metavar="PNG")
    evaluate = command("evaluate", _cli_reports.evaluate,
                       "accuracy under attack at each eps, and the plot")
    evaluate.add_argument("images", nargs="+", metavar="IMAGE")
    evaluate.add_argument("--labels", type=integers,
                          help="true classes, comma-separated (default: the predictions)")
    evaluate.add_argument("--attack", action="append", default=[], metavar="METHOD",
                          help="an attack with an eps budget (repeatable; default fgsm, pgd)")
    evaluate.add_argument("--eps", type=numbers, default=[0, 1 / 255, 2 / 255, 4 / 255, 8 / 255],
                          metavar="LIST", help="comma-separated budgets, e.g. 0,2/255,8/255")
    evaluate.add_argument("--stability", action="append", default=[], metavar="METHOD",
                          help="a map whose stability under the attack is measured")
    evaluate.add_argument("--autoattack", action="store_true",
                          help="also robust accuracy under AutoAttack (apgd_ce, apgd_t, fab_t, "
                          "square in turn; set their parameters with --param METHOD.NAME=VALUE)")
    evaluate.add_argument("--autoattack-eps", type=numbers, metavar="LIST",
                          help="the eps of --autoattack (default: the largest --eps)")
    evaluate.add_argument("--plot", metavar="PNG", help="draw accuracy against eps")
    params(evaluate)
    assess = command("assess", _assess_cli.run, "judge methods' maps of images by metrics")
    _assess_cli.add_arguments(assess)
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
