"""`saliency explain --methods ... --grid` and `saliency evaluate`: many calls, one figure.

Figures need the `figures` extra (matplotlib); the commands say so when it is missing.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from saliency_client._cli_connection import connection
from saliency_client._cli_support import (
    check_params,
    class_name,
    find_model,
    out,
    params_for,
    read_image,
    table,
)
from saliency_client.async_client import AsyncSaliencyClient
from saliency_client.client import SaliencyClient
from saliency_client.gallery import MethodMap, explain_methods, explanation_methods
from saliency_client.results import EvaluateReport, ModelInfo


def _figures() -> Any:
    try:
        from saliency_client import figures
    except ImportError as missing:
        raise ValueError(f"{missing}") from None
    return figures


def _chosen(text: str, offered: list[str]) -> list[str]:
    if text.strip().lower() == "all":
        return offered
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in offered]
    if unknown or not chosen:
        raise ValueError(f"unknown methods {unknown}; the server offers: {', '.join(offered)}")
    return chosen


async def _gallery(args: argparse.Namespace, image: bytes, model: str, methods: list[str],
                   params: dict[str, Any]) -> list[MethodMap]:
    async with AsyncSaliencyClient(args.target, **connection(args)) as client:
        found = {a.method: a async for a in explain_methods(
            client, image, model=model, methods=methods, targets=args.target_class,
            params=params)}
    return [found[m] for m in methods]


def _title(model: ModelInfo, path: str, answers: list[MethodMap]) -> tuple[str, str]:
    done = [a.result for a in answers if a.result is not None and a.result.explanations]
    if not done:
        return f"{model.name} · {Path(path).name}", ""
    explained = done[0].explanations[0]
    predicted = class_name(model, done[0].predicted_class)
    probability = explained.diagnostics.get("target_probability", float("nan"))
    explained_class = class_name(model, explained.target)
    title = f"{model.name} · {Path(path).name} · maps of class {explained_class}"
    return title, f"predicted {predicted}; explained class at {probability:.1%}"


def explain_grid(client: SaliencyClient, args: argparse.Namespace) -> int:
    """Explain one image with several methods (each once, concurrently); draw one figure."""
    figures = _figures() if args.grid else None
    data, pixels = read_image(args.image)
    model = find_model(client, args.model)
    offered = client.list_methods()
    names = explanation_methods(offered)
    methods = [args.method] if args.method else _chosen(args.methods, names)
    check_params(args.param, methods, offered)
    params = {m: params_for(m, args.param, offered) for m in methods}
    answers = asyncio.run(_gallery(args, data, model.name, methods, params))
    rows = [["METHOD", "SECONDS", "RESULT"]]
    for answer in answers:
        if answer.result is not None:
            found = answer.result.explanations[0]
            shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(found.diagnostics.items()))
            rows.append([answer.method, f"{answer.seconds:.2f}", shown])
        else:
            why = answer.not_applicable or (answer.error.details if answer.error else "")
            kind = "not applicable" if answer.not_applicable else "error"
            rows.append([answer.method, f"{answer.seconds:.2f}", f"{kind}: {why[:120]}"])
    table(rows)
    if figures is not None:
        title, note = _title(model, args.image, answers)
        figures.save_gallery(args.grid, pixels, answers, title=title, input_note=note)
        out(f"wrote {args.grid}")
    return 1 if any(a.error is not None for a in answers) else 0


def _labels(client: SaliencyClient, args: argparse.Namespace, files: list[bytes],
            model: ModelInfo) -> list[int]:
    if args.labels is not None:
        if len(args.labels) != len(files):
            raise ValueError(f"--labels gives {len(args.labels)} labels for {len(files)} images")
        return list(args.labels)
    predictions = client.predict(files, model=model.name, top_k=1)
    for prediction in predictions:
        prediction.raise_for_error()
    out("labels: the model's own predictions (give --labels for the true classes)")
    return [p.top[0].index for p in predictions]


# AutoAttack's standard attacks, in the order the server runs them.
AUTOATTACK = ("apgd_ce", "apgd_t", "fab_t", "square")


def _report(report: EvaluateReport) -> None:
    out(f"clean accuracy: {report.clean_accuracy:.1%}")
    rows = [["ATTACK", "EPS", "ACCURACY (TORCH)", "ACCURACY (ONNX RUNTIME)"]]
    for curve in report.curves:
        for eps, torch_acc, onnx_acc in zip(curve.epsilons, curve.accuracy, curve.onnx_accuracy,
                                            strict=True):
            rows.append([curve.attack, f"{eps:.5g}", f"{torch_acc:.1%}", f"{onnx_acc:.1%}"])
    table(rows)
    for s in report.stability:
        out(f"{s.method} under {s.attack} at eps {s.eps:.5g}: Spearman {s.mean_spearman:.3f}, "
            f"SSIM {s.mean_ssim:.3f} over {len(s.spearman)} flipped images")
    for result in report.autoattack:
        out(f"autoattack at eps {result.eps:.5g}: robust accuracy {result.robust_accuracy:.1%} "
            f"(ONNX Runtime {result.onnx_robust_accuracy:.1%})")
        for stage in result.stages:
            out(f"  {stage.attack}: broke {stage.broken} of {stage.attacked}, "
                f"robust accuracy after it {stage.robust_accuracy:.1%}")


def evaluate(client: SaliencyClient, args: argparse.Namespace) -> int:
    """Accuracy under attack at each ε (and stability); optionally the plot."""
    figures = _figures() if args.plot else None
    files = [read_image(path)[0] for path in args.images]
    model = find_model(client, args.model)
    offered = client.list_methods()
    attacks = args.attack or ([] if args.autoattack else ["fgsm", "pgd"])
    ensemble = list(AUTOATTACK) if args.autoattack else []
    check_params(args.param, attacks + ensemble, offered)
    chosen = {name: params_for(name, args.param, offered) for name in attacks}
    components = {name: params_for(name, args.param, offered) for name in ensemble}
    labels = _labels(client, args, files, model)

    def progress(done: float, stage: str) -> None:
        out(f"{done:5.0%}  {stage}")

    report = client.evaluate(files, labels, model=model.name, attacks=chosen,
                             epsilons=args.eps, stability_methods=args.stability,
                             autoattack=components or False,
                             autoattack_epsilons=args.autoattack_eps or (), progress=progress)
    _report(report)
    if figures is not None:
        figures.save_accuracy_plot(args.plot, report,
                                   title=f"{model.name}: accuracy under attack "
                                   f"({len(files)} images)")
        out(f"wrote {args.plot}")
    return 0


