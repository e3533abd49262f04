"""The client's results → JSON for the page.

Maps travel raw, as base64 float32 (little-endian), so the page draws them on whatever scale it
is asked for; each comes with its signed scale (`overlay.signed_scale`) computed here, so the
figures and the page agree on it. Pictures (adversarial images, class models) travel as PNG
data URLs.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import asdict

import numpy as np
import numpy.typing as npt
from PIL import Image

from saliency_client.errors import SaliencyError
from saliency_client.gallery import MethodMap
from saliency_client.overlay import signed_scale, stretched
from saliency_client.results import (
    AttackResult,
    ClassExplanation,
    EvaluateReport,
    MethodInfo,
    ModelInfo,
    Prediction,
)

_ERROR_TEXT = 500  # a server's message is bounded already; this bounds what the page shows


def finite(value: float) -> float | None:
    """JSON has no NaN or infinity: they become null."""
    return value if math.isfinite(value) else None


def array(values: npt.NDArray[np.generic]) -> dict[str, object]:
    """A map as {"shape": [H, W], "data": base64 of float32 little-endian}."""
    data = np.ascontiguousarray(values, dtype="<f4")
    return {"shape": list(data.shape), "data": base64.b64encode(data.tobytes()).decode()}


def png_url(pixels: npt.NDArray[np.generic]) -> str:
    """A picture (floats in [0, 1] or uint8; grey or RGB) as a PNG data URL."""
    if pixels.dtype != np.uint8:
        pixels = np.rint(np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def error(failure: SaliencyError) -> dict[str, str]:
    """A server's error as the page shows it: the status in words and its message."""
    return {"code": failure.code.name, "error": failure.details[:_ERROR_TEXT]}


def model(info: ModelInfo) -> dict[str, object]:
    """A model's card."""
    fields = asdict(info)
    fields["onnx_max_abs_logit_gap"] = finite(info.onnx_max_abs_logit_gap)
    fields["onnx_max_rel_logit_gap"] = finite(info.onnx_max_rel_logit_gap)
    return fields


def method(info: MethodInfo) -> dict[str, object]:
    """A method and its parameters (tensor parameters are listed, never filled in)."""
    return {
        "name": info.name,
        "kind": info.kind,
        "description": info.description,
        "params": [
            {"name": p.name, "type": p.type, "minimum": p.minimum, "maximum": p.maximum,
             "choices": list(p.choices), "description": p.description,
             "default": p.default if not isinstance(p.default, np.ndarray) else None}
            for p in info.params
        ],
    }


def prediction(result: Prediction) -> dict[str, object]:
    """Top classes, best first."""
    return {"top": [{"index": s.index, "label": s.label, "logit": s.logit,
                     "probability": s.probability} for s in result.top]}


def explanation(found: ClassExplanation) -> dict[str, object]:
    """One class's map, its scale, its picture (if the method makes one) and diagnostics."""
    has_map = found.heatmap.size > 0
    return {
        "target": found.target,
        "label": found.label,
        "heatmap": array(found.heatmap) if has_map else None,
        "scale": signed_scale(found.heatmap) if has_map else 0.0,
        "image": png_url(stretched(found.image)) if found.image is not None else None,
        "diagnostics": {k: finite(v) for k, v in sorted(found.diagnostics.items())},
        "box": list(found.box) if found.box is not None else None,
    }


def method_map(answer: MethodMap) -> dict[str, object]:
    """One method's gallery entry: ok, not applicable (with the reason), or failed."""
    entry: dict[str, object] = {"method": answer.method, "params": answer.params,
                                "seconds": answer.seconds}
    if answer.not_applicable is not None:
        return entry | {"status": "not_applicable",
                        "reason": answer.not_applicable[:_ERROR_TEXT]}
    if answer.error is not None:
        return entry | {"status": "error"} | error(answer.error)
    assert answer.result is not None  # MethodMap holds exactly one of the three
    return entry | {
        "status": "ok",
        "predicted": {"index": answer.result.predicted_class,
                      "label": answer.result.predicted_label},
        "explanations": [explanation(e) for e in answer.result.explanations],
    }


def attack(result: AttackResult, clean: npt.NDArray[np.float32]) -> dict[str, object]:
    """An attack's verdicts, the adversarial picture and its perturbation made visible.

    The perturbation δ = x_adv − x is shown as 0.5 + δ / (2 max |δ|): grey where nothing
    changed, its largest change at full black or white, whatever ε was.
    """
    assert result.adversarial is not None  # only successful calls are encoded
    delta = result.adversarial.astype(np.float32) - clean
    peak = float(np.abs(delta).max())
    amplified = 0.5 + delta / (2 * peak) if peak > 0 else np.full_like(delta, 0.5)
    return {
        "label_before": result.label_before,
        "label_after_torch": result.label_after_torch,
        "label_after_onnx": result.label_after_onnx,
        "success": result.success,
        "engines_agree": result.engines_agree,
        "linf": finite(result.linf),
        "l2": finite(result.l2),
        "eps": finite(result.eps),
        "target_class": result.target_class,
        "adversarial": png_url(result.adversarial),
        "perturbation": png_url(amplified),
        "amplification": 1 / (2 * peak) if peak > 0 else None,
    }


def report(result: EvaluateReport) -> dict[str, object]:
    """An Evaluate report; NaN accuracies (none defined) become null."""
    return {
        "clean_accuracy": finite(result.clean_accuracy),
        "curves": [
            {"attack": c.attack, "epsilons": c.epsilons,
             "accuracy": [finite(a) for a in c.accuracy],
             "onnx_accuracy": [finite(a) for a in c.onnx_accuracy]}
            for c in result.curves
        ],
        "stability": [
            {"method": s.method, "attack": s.attack, "eps": s.eps, "flipped": len(s.spearman),
             "mean_spearman": finite(s.mean_spearman), "mean_ssim": finite(s.mean_ssim)}
            for s in result.stability
        ],
    }
