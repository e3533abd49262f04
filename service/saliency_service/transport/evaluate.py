"""The `Evaluate` RPC: a long robustness report, streamed as progress then the report."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import torch
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb

from saliency_service.attacks.base import AttackSpec
from saliency_service.engine.pool import WorkerPool
from saliency_service.errors import InvalidRequest
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.models.loading import LoadedModel
from saliency_service.operations import attack as attack_op
from saliency_service.operations import evaluate as evaluate_op
from saliency_service.operations import explain as explain_op
from saliency_service.params import resolve_params
from saliency_service.transport import convert

ModelInput = Callable[[LoadedModel, pb.Image, int], torch.Tensor]


async def evaluate_stream(
    request: pb.EvaluateRequest, model: LoadedModel, pool: WorkerPool, model_input: ModelInput
) -> AsyncIterator[pb.EvaluateResponse]:
    """Validate the whole plan first, then run it off the loop, yielding progress as it goes.

    Unlike Explain, one bad image fails the request: a report over a partial batch would
    silently change what its accuracy figures mean.
    """
    attacks: list[tuple[AttackSpec, dict[str, object]]] = []
    for spec_message in request.attacks:
        name = convert.method_name(spec_message.method, pb.AttackMethod, "ATTACK_METHOD_", "attack")
        attack = attack_op.attacker(name)
        own = resolve_params(name, attack.params, convert.params(spec_message.params))
        attacks.append((attack, dict(own)))
    evaluate_op.check_plan([spec for spec, _ in attacks], list(request.epsilons))
    explainers: list[tuple[ExplainerSpec, dict[str, object]]] = []
    for value in request.stability_methods:
        name = convert.method_name(value, pb.ExplainMethod, "EXPLAIN_METHOD_", "explain")
        explainer = explain_op.explainer(name)
        explain_op.check_applicable(model, explainer)
        own = resolve_params(name, explainer.params, {})
        explainers.append((explainer, explain_op.method_params(model, explainer, own)))
    if not request.items:
        raise InvalidRequest("the evaluation has no labelled images")
    classes = model.config.num_classes
    images, labels = [], []
    for index, item in enumerate(request.items):
        if not 0 <= item.label < classes:
            raise InvalidRequest(f"image {index}: label {item.label} is not in 0..{classes - 1}")
        images.append(await pool.decode(model_input, model, item.image, index))
        labels.append(item.label)

    loop = asyncio.get_running_loop()
    updates: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

    def progress(fraction: float, stage: str) -> None:
        loop.call_soon_threadsafe(updates.put_nowait, (fraction, stage))

    work = asyncio.ensure_future(
        pool.compute(
            model.device,
            evaluate_op.evaluate,
            model,
            torch.stack(images),
            torch.tensor(labels),
            attacks,
            list(request.epsilons),
            explainers,
            progress,
        )
    )
    while not work.done() or not updates.empty():
        getter = asyncio.ensure_future(updates.get())
        await asyncio.wait({getter, work}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            fraction, stage = getter.result()
            yield pb.EvaluateResponse(progress=fraction, stage=stage)
        else:
            getter.cancel()
    report = work.result()
    yield pb.EvaluateResponse(progress=1.0, stage="report", report=convert.evaluate_report(report))
