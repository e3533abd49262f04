"""Each operation as a batcher job: the key its images batch under, and how a batch runs.

The key holds the model, the operation, the method and every resolved parameter, so only
identical computations share a batch; what differs per image (its pixels, targets, label, ε)
rides along in the payload. Explainers and attacks give each image the same result alone or in
a batch (random ones seed per image), so batching never changes an answer.
"""

from __future__ import annotations

import torch

from saliency_service.attacks.base import AttackSpec
from saliency_service.engine.work import BatchKey, Job, params_key
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.models.loading import LoadedModel
from saliency_service.operations import attack as attack_op
from saliency_service.operations import explain as explain_op
from saliency_service.operations.predict import predict
from saliency_service.params import ParamValue


def predict_job(model: LoadedModel, top_k: int) -> Job:
    """Top-k classes by ONNX Runtime: forward only, so never split for memory."""
    return Job(
        BatchKey(model.config.name, "predict", "", (("top_k", top_k),)),
        lambda instance, images, _: predict(instance, torch.stack(images), top_k),
        chunking="none",
    )


def explain_job(model: LoadedModel, spec: ExplainerSpec, params: dict[str, ParamValue]) -> Job:
    """An explanation; methods that chunk get the memory budget's rows per pass, and methods
    that hook no layer run on the replica with folded batch norms."""
    return Job(
        BatchKey(model.config.name, "explain", spec.name, params_key(params)),
        lambda instance, items, rows: explain_op.explain(
            instance, spec, params, items, chunk_size=rows
        ),
        chunking="inside" if explain_op.chunks_passes(spec) else "passes",
        rows=explain_op.rows_of,
        foldable=not any(p.kind == "layer" for p in spec.params),
    )


def attack_job(model: LoadedModel, spec: AttackSpec, params: dict[str, ParamValue]) -> Job:
    """An attack; the engine splits a batch into passes that fit the memory budget."""
    return Job(
        BatchKey(model.config.name, "attack", spec.name, params_key(params)),
        lambda instance, items, _: attack_op.attack(instance, spec, params, items),
        foldable=True,
    )
