"""The fidelity gate: an explanation runs in reduced precision only where its maps survive it.

The first batch of each model load, method and parameters that would run under autocast is
computed twice, in reduced precision and in float32, and the two are compared: every map's
Spearman rank correlation with its float32 twin at least MIN_SPEARMAN, the same top-1 class for
every image, and for methods that check completeness (integrated gradients), every map that
met its tolerance in float32 meeting it in reduced precision too, the gap measured against
float32 endpoint scores. The verdict is kept for later batches. Where it fails, the method runs
in float32 for that model and those parameters, and each map says so in its diagnostics:
"reduced_precision" is 1 where the map was computed in reduced precision, else 0, and the
check's figures follow: "precision_check_spearman" (the smallest correlation it measured),
"precision_check_same_top1" and "precision_check_completeness_kept" (1 or 0). Nothing falls
back silently, and nothing is refused: the answer is the float32 one when in doubt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import torch

from saliency_service.assessment.similarity import spearman_rank_correlation
from saliency_service.operations.explain_batch import ExplainOutput

log = logging.getLogger(__name__)
MIN_SPEARMAN = 0.99


@dataclass(frozen=True)
class Verdict:
    """What the check measured on its batch, and whether reduced precision may be used."""

    spearman: float
    same_top1: bool
    completeness_kept: bool

    @property
    def passed(self) -> bool:
        return self.spearman >= MIN_SPEARMAN and self.same_top1 and self.completeness_kept


def judge(reduced: list[ExplainOutput], full: list[ExplainOutput]) -> Verdict:
    """Compare a batch's reduced-precision explanations with their float32 twins."""
    reduced_maps = [m for output in reduced for m in output.maps]
    full_maps = [m for output in full for m in output.maps]
    correlations = [
        float(spearman_rank_correlation(a.heatmap[None].double(), b.heatmap[None].double())[0])
        for a, b in zip(reduced_maps, full_maps, strict=True)
    ]
    # A constant map has no ranking (NaN): it survives only if its twin is the same constant.
    spearman = min(
        (
            (1.0 if torch.equal(a.heatmap, b.heatmap) else 0.0) if rho != rho else rho
            for rho, a, b in zip(correlations, reduced_maps, full_maps, strict=True)
        ),
        default=1.0,
    )
    same_top1 = all(
        a.predicted_class == b.predicted_class for a, b in zip(reduced, full, strict=True)
    )
    completeness_kept = all(
        a.diagnostics.get("tolerance_met", 1.0) >= b.diagnostics.get("tolerance_met", 0.0)
        for a, b in zip(reduced_maps, full_maps, strict=True)
    )
    return Verdict(spearman, same_top1, completeness_kept)


class FidelityGate:
    """Verdicts by key (a model load, a method and its parameters, a reduced dtype)."""

    def __init__(self) -> None:
        self._verdicts: dict[Hashable, Verdict] = {}
        self._lock = threading.Lock()

    def explain(
        self,
        key: Hashable,
        device: torch.device,
        compute: Callable[[], list[ExplainOutput]],
    ) -> list[ExplainOutput]:
        """`compute()` under the autocast that is on, or in float32 where the gate says so.

        Called inside the engine's autocast context (engine/precision.py); with autocast off
        it only computes.
        """
        if not torch.is_autocast_enabled(device.type):
            return compute()
        dtype = torch.get_autocast_dtype(device.type)
        with self._lock:
            verdict = self._verdicts.get((key, dtype))
        if verdict is None:
            reduced = compute()
            full = _in_float32(device, compute)
            verdict = judge(reduced, full)
            with self._lock:
                self._verdicts[(key, dtype)] = verdict
            if not verdict.passed:
                log.warning("%s: maps differ in %s (Spearman %.4f, same top-1 %s, completeness "
                            "kept %s); float32 from now on", key, dtype, verdict.spearman,
                            verdict.same_top1, verdict.completeness_kept)
            return _marked(reduced if verdict.passed else full, verdict)
        if verdict.passed:
            return _marked(compute(), verdict)
        return _marked(_in_float32(device, compute), verdict)


def _in_float32(device: torch.device, compute: Callable[[], list[ExplainOutput]]
                ) -> list[ExplainOutput]:
    with torch.autocast(device.type, enabled=False):
        return compute()


def _marked(outputs: list[ExplainOutput], verdict: Verdict) -> list[ExplainOutput]:
    for output in outputs:
        for class_map in output.maps:
            class_map.diagnostics |= {
                "reduced_precision": float(verdict.passed),
                "precision_check_spearman": verdict.spearman,
                "precision_check_same_top1": float(verdict.same_top1),
                "precision_check_completeness_kept": float(verdict.completeness_kept),
            }
    return outputs


GATE = FidelityGate()
