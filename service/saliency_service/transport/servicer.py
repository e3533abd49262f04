"""The `saliency.v1.Saliency` servicer: validate → from proto → compute off the loop → to proto."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import grpc
import torch
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from saliency_service.attacks import ATTACKS
from saliency_service.attacks.base import AttackSpec
from saliency_service.config import ServerConfig
from saliency_service.engine.engine import Engine
from saliency_service.engine.work import Job
from saliency_service.errors import InvalidRequest, SaliencyError
from saliency_service.explainers import EXPLAINERS
from saliency_service.images import resize, to_pixels
from saliency_service.metrics import Metrics
from saliency_service.models.loading import LoadedModel
from saliency_service.models.repository import ModelRepository
from saliency_service.operations import attack as attack_op
from saliency_service.operations import explain as explain_op
from saliency_service.operations import jobs
from saliency_service.params import resolve_params
from saliency_service.transport import convert
from saliency_service.transport.evaluate import evaluate_stream
from saliency_service.transport.status import code_of

T = TypeVar("T")
Prepared = list[T | SaliencyError]


class SaliencyServicer(pb_grpc.SaliencyServicer):
    """Thin handlers; the work is in `operations/`, run on the worker pool."""

    def __init__(
        self, repository: ModelRepository, engine: Engine, config: ServerConfig, metrics: Metrics
    ) -> None:
        self.repository = repository
        self.engine = engine
        self.pool = engine.pool
        self.config = config
        self.metrics = metrics

    async def ListModels(self, request: pb.ListModelsRequest, context: Any) -> Any:
        with self._observed("ListModels", "", ""):
            models = [self.repository.get(name) for name in self.repository.names()]
            return pb.ListModelsResponse(models=[convert.model_info(m) for m in models])

    async def GetModel(self, request: pb.GetModelRequest, context: Any) -> Any:
        with self._observed("GetModel", request.name, ""):
            return pb.GetModelResponse(model=convert.model_info(self.repository.get(request.name)))

    async def ListMethods(self, request: pb.ListMethodsRequest, context: Any) -> Any:
        with self._observed("ListMethods", "", ""):
            explain = [
                convert.explain_method_info(s, explain_op.COMMON_PARAMS)
                for s in EXPLAINERS.values()
            ]
            attack = [
                convert.attack_method_info(s, attack_op.COMMON_PARAMS) for s in ATTACKS.values()
            ]
            return pb.ListMethodsResponse(methods=explain + attack)

    async def Predict(self, request: pb.PredictRequest, context: Any) -> Any:
        with self._observed("Predict", request.model, "") as done:
            model = self.repository.get(request.model)
            classes = model.config.num_classes
            if not 0 <= request.top_k <= classes:
                raise InvalidRequest(f"top_k must be in 0..{classes}, got {request.top_k}")
            top_k = request.top_k or min(5, classes)
            self._check_count(len(request.images))
            prepared = await self.pool.decode(
                _prepare, request.images, lambda i, image: self._model_input(model, image, i)
            )
            valid = [x for x in prepared if not isinstance(x, SaliencyError)]
            job = jobs.predict_job(model, top_k)
            scores = await self._compute(job, valid, request.priority, context)
            done(prepared, scores)
            return pb.PredictResponse(
                predictions=_merge(prepared, scores, convert.prediction, pb.Prediction)
            )

    async def Explain(self, request: pb.ExplainRequest, context: Any) -> Any:
        method = convert.method_name(request.method, pb.ExplainMethod, "EXPLAIN_METHOD_", "explain")
        with self._observed("Explain", request.model, method) as done:
            model = self.repository.get(request.model)
            spec = explain_op.explainer(method)
            explain_op.check_applicable(model, spec)
            params = resolve_params(
                method, (*spec.params, *explain_op.COMMON_PARAMS), convert.params(request.params)
            )
            self._check_count(len(request.items))
            prepared = await self.pool.decode(
                _prepare, request.items, lambda i, item: self._explain_input(model, item, i)
            )
            valid = [x for x in prepared if not isinstance(x, SaliencyError)]
            job = jobs.explain_job(model, spec, params)
            outputs = await self._compute(job, valid, request.priority, context)
            done(prepared, outputs)
            labels = model.config.labels
            return pb.ExplainResponse(
                results=_merge(
                    prepared,
                    outputs,
                    lambda out: convert.explain_result(out, labels),
                    pb.ExplainResult,
                )
            )

    async def ExplainStream(
        self, request_iterator: AsyncIterator[pb.ExplainStreamRequest], context: Any
    ) -> AsyncIterator[pb.ExplainStreamResponse]:
        answers: asyncio.Queue[pb.ExplainStreamResponse | None] = asyncio.Queue()

        async def answer(message: pb.ExplainStreamRequest) -> None:
            try:
                response = await self.Explain(message.request, context)
                await answers.put(
                    pb.ExplainStreamResponse(request_id=message.request_id, response=response)
                )
            except Exception as error:  # noqa: BLE001 - answered on the stream, not raised
                code, text = code_of(error)
                await answers.put(
                    pb.ExplainStreamResponse(
                        request_id=message.request_id, error=convert.item_error(code.value[0], text)
                    )
                )

        async def read_all() -> None:
            try:
                async with asyncio.TaskGroup() as group:
                    async for message in request_iterator:
                        group.create_task(answer(message))
            finally:
                # Also when reading fails (a corrupt message): the loop below then ends and
                # `await reader` raises the reader's error.
                await answers.put(None)

        reader = asyncio.create_task(read_all())
        while (response := await answers.get()) is not None:
            yield response
        await reader

    async def Attack(self, request: pb.AttackRequest, context: Any) -> Any:
        method = convert.method_name(request.method, pb.AttackMethod, "ATTACK_METHOD_", "attack")
        with self._observed("Attack", request.model, method) as done:
            model = self.repository.get(request.model)
            spec = attack_op.attacker(method)
            params = resolve_params(
                method, (*spec.params, *attack_op.COMMON_PARAMS), convert.params(request.params)
            )
            attack_op.check_request(spec, params)
            self._check_count(len(request.items))
            mode = str(params["target_mode"])
            prepared = await self.pool.decode(
                _prepare,
                request.items,
                lambda i, item: self._attack_input(model, spec, item, i, mode),
            )
            valid = [x for x in prepared if not isinstance(x, SaliencyError)]
            job = jobs.attack_job(model, spec, params)
            outcomes = await self._compute(job, valid, request.priority, context)
            done(prepared, outcomes)
            return pb.AttackResponse(
                results=_merge(prepared, outcomes, convert.attack_result, pb.AttackResult)
            )

    async def Evaluate(
        self, request: pb.EvaluateRequest, context: Any
    ) -> AsyncIterator[pb.EvaluateResponse]:
        with self._observed("Evaluate", request.model, ""):
            model = self.repository.get(request.model)
            async for message in evaluate_stream(request, model, self.pool, self._model_input):
                yield message

    # ------------------------------------------------------------------ helpers

    def _model_input(self, model: LoadedModel, image: pb.Image, index: int) -> torch.Tensor:
        raw = convert.raw_image(image, f"image {index}")
        pixels = to_pixels(raw, model.config.channels, self.config.max_image_pixels)
        return resize(pixels, model.config.height, model.config.width).clamp_(0.0, 1.0)

    def _explain_input(
        self, model: LoadedModel, item: pb.ExplainItem, index: int
    ) -> explain_op.ExplainInput:
        targets = tuple(item.targets)
        explain_op.check_targets(model, targets, item.top_k)
        raw = convert.raw_image(item.image, f"image {index}")
        pixels = to_pixels(raw, model.config.channels, self.config.max_image_pixels)
        size = (int(pixels.shape[1]), int(pixels.shape[2]))
        pixels = resize(pixels, model.config.height, model.config.width).clamp_(0.0, 1.0)
        return explain_op.ExplainInput(pixels, size, targets, item.top_k)

    def _attack_input(
        self, model: LoadedModel, spec: AttackSpec, item: pb.AttackItem, index: int, mode: str
    ) -> attack_op.AttackInput:
        result = attack_op.AttackInput(
            pixels=self._model_input(model, item.image, index),
            label=item.label if item.HasField("label") else None,
            target_class=item.target_class if item.HasField("target_class") else None,
            eps=item.eps if item.HasField("eps") else None,
        )
        attack_op.check_item(model, spec, result, mode)
        return result

    def _check_count(self, count: int) -> None:
        if count == 0:
            raise InvalidRequest("the request has no images")
        if count > self.config.max_items_per_request:
            raise InvalidRequest(
                f"the request has {count} images; the limit is {self.config.max_items_per_request}"
            )

    async def _compute(self, job: Job, valid: list[Any], priority: int, context: Any) -> list[Any]:
        """Batch the valid items with compatible work of other requests: outputs or errors."""
        if not valid:
            return []
        return await self.engine.batcher.run(
            job, valid, time_remaining=context.time_remaining(), priority=priority
        )

    @contextmanager
    def _observed(
        self, rpc: str, model: str, method: str
    ) -> Iterator[Callable[[Prepared[Any], Sequence[Any]], None]]:
        """Count the RPC and its images by outcome, and time it, whatever its outcome."""
        started = time.perf_counter()
        code = grpc.StatusCode.OK

        def done(prepared: Prepared[Any], outputs: Sequence[Any]) -> None:
            failed = sum(isinstance(out, Exception) for out in outputs)
            counts = {
                "ok": len(outputs) - failed,
                "invalid": len(prepared) - len(outputs),
                "failed": failed,
            }
            for outcome, count in counts.items():
                self.metrics.items.labels(rpc, model, method, outcome).inc(count)

        try:
            yield done
        except Exception as error:
            code = code_of(error)[0]
            raise
        finally:
            self.metrics.requests.labels(rpc, model, method, code.name).inc()
            self.metrics.request_latency.labels(rpc, model, method).observe(
                time.perf_counter() - started
            )


def _prepare(messages: Sequence[Any], build: Callable[[int, Any], T]) -> Prepared[T]:
    """Build each item, keeping its error in its place so one bad image fails alone."""
    prepared: Prepared[T] = []
    for index, message in enumerate(messages):
        try:
            prepared.append(build(index, message))
        except SaliencyError as error:
            prepared.append(error)
    return prepared


def _merge(
    prepared: Prepared[Any],
    outputs: Sequence[Any],
    to_proto: Callable[[Any], T],
    message: Callable[..., T],
) -> list[T]:
    """Results in request order: each item's output, or its own error (invalid or failed)."""
    if len(outputs) != sum(not isinstance(p, SaliencyError) for p in prepared):
        raise RuntimeError("compute returned a different number of results than it was given")
    computed = iter(outputs)
    results = []
    for prepared_item in prepared:
        # A computed item may fail alone too (out of memory): it carries its own error.
        item = prepared_item if isinstance(prepared_item, SaliencyError) else next(computed)
        if isinstance(item, Exception):
            code, text = code_of(item)
            results.append(message(error=convert.item_error(code.value[0], text)))
        else:
            results.append(to_proto(item))
    return results
