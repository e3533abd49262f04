"""The model actor of a bulk job: decoded images in, one result row per image out.

Ray Data runs a pool of these (one per GPU, or CPU actors), each holding one model in a
LocalEngine. Images that failed to decode, or that lack a label the job needs, pass through
with their error; an image that fails in the engine fails alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, cast

import numpy as np
import pyarrow as pa
import torch

from saliency_service.bulk.job import BulkJob
from saliency_service.bulk.local_engine import LocalEngine
from saliency_service.bulk.schema import SCHEMAS, table
from saliency_service.bulk.sources import NO_LABEL
from saliency_service.errors import SaliencyError
from saliency_service.operations.attack import plan_attack
from saliency_service.operations.attack_batch import AttackInput, AttackOutcome
from saliency_service.operations.calls import AttackCall, Caller, EvaluateCall, ExplainCall
from saliency_service.operations.evaluate import Evaluation, evaluate_pixels, plan_evaluate
from saliency_service.operations.explain import plan_explain
from saliency_service.operations.explain_batch import ExplainInput, ExplainOutput

Batch = dict[str, np.ndarray]
Row = dict[str, Any]
# What a stage's failure says when the job cannot run at all (the method cannot apply to the
# model): the driver finds it in the text Ray hands back, and stops with it.
JOB_FAILED = "saliency bulk: the job cannot run:"
# Columns that travel with a row to the encoding stage (schema.py): the image, for overlays.
CARRIED = (pa.field("_image", pa.binary()), pa.field("_adversarial", pa.list_(pa.float32())))


class ModelWorker:
    """A Ray Data callable class: `worker(batch) -> pyarrow.Table` of result rows."""

    def __init__(self, job: BulkJob, threads: int) -> None:
        self.job = job
        self.local = LocalEngine(job.model_config(), job.repository, job.memory_budget_mb, threads)
        model, seconds = self.local.model, self.local.row_seconds
        pixels_limit = self.local.config.max_image_pixels
        name = model.config.name
        run: dict[str, Callable[[Batch, list[Row], list[int]], None]] = {
            "explain": self._explain, "attack": self._attack, "evaluate": self._evaluate,
        }
        self._run = run[job.kind]
        if job.kind == "explain":
            call = ExplainCall(name, job.method, [], job.params)
            self.explain_plan = plan_explain(model, call, seconds, pixels_limit)
        elif job.kind == "attack":
            self.attack_plan = plan_attack(model, AttackCall(name, job.method, [], job.params),
                                           seconds, pixels_limit)
        else:
            # plan_evaluate checks a call's images; the plan itself never reads them.
            labelled = EvaluateCall(name, [b""], [0], list(job.attacks), list(job.epsilons),
                                    list(job.stability_methods))
            self.evaluate_plan = plan_evaluate(model, labelled, seconds, pixels_limit)

    def __call__(self, batch: Batch) -> pa.Table:
        rows: list[Row] = [
            {
                "key": str(batch["key"][i]),
                "shard": str(batch["shard"][i]),
                "path": str(batch["path"][i]) or None,
                "label": None if int(batch["label"][i]) == NO_LABEL else int(batch["label"][i]),
                "error": str(batch["error"][i]) or None,
            }
            for i in range(len(batch["key"]))
        ]
        if self.job.overlays and "image" in batch:
            for row, image in zip(rows, batch["image"], strict=True):
                row["_image"] = bytes(image)
        needs_label = self.job.kind == "evaluate" or self.job.target == "label"
        for row in rows:
            if row["error"] is None and needs_label and row["label"] is None:
                row["error"] = "the data set gives this image no label (one the model knows)"
        ready = [i for i, row in enumerate(rows) if row["error"] is None]
        try:
            if ready:
                self._run(batch, rows, ready)
        except SaliencyError as error:  # one that concerns every image alike (runner.batch)
            raise RuntimeError(f"{JOB_FAILED} {error}") from None
        return table(SCHEMAS[self.job.kind], rows, CARRIED)

    def _pixels(self, batch: Batch, i: int) -> torch.Tensor:
        return torch.from_numpy(np.array(batch["pixels"][i], dtype=np.float32))

    def _explain(self, batch: Batch, rows: list[Row], ready: list[int]) -> None:
        plan = self.explain_plan
        items = [
            ExplainInput(
                self._pixels(batch, i),
                (int(batch["height"][i]), int(batch["width"][i])),
                (rows[i]["label"],) if self.job.target == "label" else (),
                0,
            )
            for i in ready
        ]
        for i, output in zip(ready, self.local.batch(plan.job, items), strict=True):
            if isinstance(output, SaliencyError):
                rows[i]["error"] = str(output)
                continue
            result = cast(ExplainOutput, output)
            found = result.maps[0]
            heatmap = found.heatmap.numpy()
            rows[i].update(
                method=plan.spec.name,
                predicted_class=result.predicted_class,
                predicted_label=result.predicted_label,
                target=found.target,
                target_label=found.label,
                map=heatmap.ravel(),
                map_height=heatmap.shape[0] if heatmap.ndim == 2 else 0,
                map_width=heatmap.shape[1] if heatmap.ndim == 2 else 0,
                diagnostics=found.diagnostics,
            )

    def _attack(self, batch: Batch, rows: list[Row], ready: list[int]) -> None:
        plan = self.attack_plan
        items = [AttackInput(self._pixels(batch, i), None, None, None) for i in ready]
        for i, output in zip(ready, self.local.batch(plan.job, items), strict=True):
            if isinstance(output, SaliencyError):
                rows[i]["error"] = str(output)
                continue
            outcome = cast(AttackOutcome, output)
            # Every field of the outcome is a column (schema.ATTACK), but the image itself.
            rows[i].update({f.name: getattr(outcome, f.name) for f in fields(outcome)
                            if f.name != "adversarial"}, method=plan.spec.name)
            if self.job.overlays:
                rows[i]["_adversarial"] = outcome.adversarial.numpy().ravel()

    def _evaluate(self, batch: Batch, rows: list[Row], ready: list[int]) -> None:
        """The report's stages over the batch; if one image fails a stage (which fails the
        whole evaluation), each image is evaluated alone so that only it fails."""
        pixels = [self._pixels(batch, i) for i in ready]
        labels = [int(rows[i]["label"]) for i in ready]
        try:
            evaluation = self.local.call(self._evaluation(pixels, labels))
        except SaliencyError as error:
            if len(ready) == 1:
                rows[ready[0]]["error"] = str(error)
                return
            for i in ready:
                self._evaluate(batch, rows, [i])
            return
        for position, i in enumerate(ready):
            rows[i].update(
                clean_class=evaluation.clean[position],
                attacks=[
                    {"attack": name, "eps": eps,
                     "label_after_torch": run[position].label_after_torch,
                     "label_after_onnx": run[position].label_after_onnx}
                    for name, runs in evaluation.attacks for eps, run in runs
                ],
                stability=[
                    {"method": s.method, "attack": s.attack, "eps": s.eps,
                     "spearman": s.spearman[k], "ssim": s.ssim[k]}
                    for s in evaluation.stability for k, image in enumerate(s.images)
                    if image == position
                ],
            )

    async def _evaluation(self, pixels: list[torch.Tensor], labels: list[int]) -> Evaluation:
        result: Evaluation | None = None
        plan, runner = self.evaluate_plan, self.local.runner
        async for message in evaluate_pixels(plan, runner, Caller(), pixels, labels):
            if isinstance(message, Evaluation):
                result = message
        assert result is not None
        return result
