"""The summary report of a bulk job, made from every written shard (so a resumed job's report
covers the images of all its runs), and its text form."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

Report = dict[str, Any]
# Distinct error messages the report lists (the commonest).
ERRORS_LISTED = 5
SCALARS = {
    "explain": ["label", "error", "predicted_class", "diagnostics"],
    "attack": ["label", "error", "label_before", "label_after_torch", "label_after_onnx",
               "success", "engines_agree", "linf", "l2"],
    "evaluate": ["label", "error", "clean_class", "attacks", "stability"],
}


def summarize(kind: str, files: Sequence[Path], definition: dict[str, Any]) -> Report:
    """The report of a job of `kind` over its shard files."""
    columns = SCALARS[kind]
    rows: list[dict[str, Any]] = []
    for path in files:
        rows.extend(pq.read_table(path, columns=columns).to_pylist())
    ok = [r for r in rows if r["error"] is None]
    errors = Counter(r["error"] for r in rows if r["error"] is not None)
    report: Report = {
        "job": definition,
        "shards": len(files),
        "images": len(rows),
        "computed": len(ok),
        "failed": len(rows) - len(ok),
        "errors": dict(errors.most_common(ERRORS_LISTED)),
    }
    labelled = [r for r in ok if r["label"] is not None]
    report["labelled"] = len(labelled)
    if kind == "explain":
        report["accuracy"] = _share(labelled, lambda r: r["predicted_class"] == r["label"])
        names = sorted({name for r in ok for name, _ in r["diagnostics"] or ()})
        report["diagnostics_mean"] = {
            name: _mean([dict(r["diagnostics"])[name] for r in ok if r["diagnostics"]])
            for name in names
        }
    elif kind == "attack":
        report |= {
            "success_rate": _share(ok, lambda r: r["success"]),
            "engines_agree_rate": _share(ok, lambda r: r["engines_agree"]),
            **{
                f"accuracy_{when}": _share(labelled, lambda r, c=column: r[c] == r["label"])
                for when, column in (("before", "label_before"),
                                     ("after_torch", "label_after_torch"),
                                     ("after_onnx", "label_after_onnx"))
            },
            "linf_mean": _mean([r["linf"] for r in ok]),
            "l2_mean": _mean([r["l2"] for r in ok]),
        }
    else:
        report |= _evaluation(labelled)
    return report


def _evaluation(rows: list[dict[str, Any]]) -> Report:
    """Accuracy under each attack at each ε (torch, ONNX Runtime) and map stability, as the
    server's Evaluate reports them, over every image of the data set."""
    curves: dict[tuple[str, float], list[tuple[bool, bool]]] = {}
    stability: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in rows:
        for run in r["attacks"]:
            curves.setdefault((run["attack"], run["eps"]), []).append(
                (run["label_after_torch"] == r["label"], run["label_after_onnx"] == r["label"])
            )
        for s in r["stability"]:
            stability.setdefault((s["method"], s["attack"]), []).append((s["spearman"], s["ssim"]))
    return {
        "clean_accuracy": _share(rows, lambda r: r["clean_class"] == r["label"]),
        "curves": [
            {"attack": attack, "eps": eps, "accuracy": _mean([t for t, _ in hits]),
             "onnx_accuracy": _mean([o for _, o in hits])}
            for (attack, eps), hits in curves.items()
        ],
        "stability": [
            {"method": method, "attack": attack, "images": len(values),
             "spearman_mean": _mean([s for s, _ in values]),
             "ssim_mean": _mean([m for _, m in values])}
            for (method, attack), values in stability.items()
        ],
    }


def _share(rows: Sequence[dict[str, Any]], hit: Any) -> float:
    return sum(bool(hit(r)) for r in rows) / len(rows) if rows else math.nan


def _mean(values: Sequence[float]) -> float:
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(finite) if finite else math.nan


def write_report(report: Report, path: Path) -> None:
    """Write `report` as JSON (NaN, for "no such images", as null)."""
    path.write_text(json.dumps(_nulls(report), indent=2) + "\n")


def _nulls(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nulls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nulls(v) for v in value]
    return value


def format_report(report: Report) -> str:
    """The report as a few lines of text for the terminal."""
    lines = [
        f"{report['images']} images in {report['shards']} shards: {report['computed']} computed, "
        f"{report['failed']} failed"
    ]
    lines += [f"  {count} × {message}" for message, count in report["errors"].items()]
    for name in ("accuracy", "success_rate", "engines_agree_rate", "accuracy_before",
                 "accuracy_after_torch", "accuracy_after_onnx", "linf_mean", "l2_mean",
                 "clean_accuracy"):
        if name in report:
            lines.append(f"{name.replace('_', ' ')}: {_figure(report[name])}")
    lines += [
        f"{c['attack']} at eps={c['eps']:g}: accuracy {_figure(c['accuracy'])} (ONNX Runtime "
        f"{_figure(c['onnx_accuracy'])})" for c in report.get("curves", [])
    ]
    lines += [
        f"{s['method']} under {s['attack']}: Spearman {_figure(s['spearman_mean'])}, "
        f"SSIM {_figure(s['ssim_mean'])} over {s['images']} flipped images"
        for s in report.get("stability", [])
    ]
    if "images_per_second" in report:
        lines.append(f"this run: {report['run_images']} images in {report['run_seconds']:.1f} s "
                     f"({report['images_per_second']:.1f} images/s)")
    return "\n".join(lines)


def _figure(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4g}"
