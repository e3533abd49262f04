"""The `saliency.v1.Saliency` servicer: convert the request → call operations → convert back.

Every handler is that and nothing more; errors are mapped to statuses by status.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from saliency_service.errors import InvalidRequest, ModelNotReady
from saliency_service.metrics import Metrics
from saliency_service.operations.service import Operations
from saliency_service.transport import requests, responses
from saliency_service.transport.observation import Observation

MAX_REQUEST_ID = 256


class SaliencyServicer(pb_grpc.SaliencyServicer):
    """Thin handlers over `Operations`."""

    def __init__(self, operations: Operations, metrics: Metrics) -> None:
        self.ops = operations
        self.metrics = metrics

    async def ListModels(self, request: pb.ListModelsRequest, context: Any) -> Any:
        """Every version of every model, ready or not."""
        with self._observed("ListModels"):
            infos = [
                responses.model_info(e.model, self.ops.row_seconds(e.model), e.is_default,
                                     e.reason)
                if e.model is not None
                else responses.not_ready_model_info(e.name, e.reason, e.version)
                for e in self.ops.models()
            ]
            return pb.ListModelsResponse(models=infos)

    async def GetModel(self, request: pb.GetModelRequest, context: Any) -> Any:
        with self._observed("GetModel", request.name):
            limits = responses.limits(self.ops.limits)
            try:
                model = self.ops.model(request.name, request.version)
            except ModelNotReady as error:
                info = responses.not_ready_model_info(request.name, str(error), request.version)
                return pb.GetModelResponse(model=info, limits=limits)
            info = responses.model_info(model, self.ops.row_seconds(model),
                                        self.ops.is_default(model))
            return pb.GetModelResponse(model=info, limits=limits)

    async def ListMethods(self, request: pb.ListMethodsRequest, context: Any) -> Any:
        with self._observed("ListMethods"):
            return responses.methods(self.ops.catalogue())

    async def Predict(self, request: pb.PredictRequest, context: Any) -> Any:
        with self._observed("Predict", request.model) as record:
            answer = await self.ops.predict(
                requests.predict(request), requests.caller(context, request.priority)
            )
            record(answer.results)
            predictions = responses.per_item(answer.results, responses.prediction, pb.Prediction)
            return pb.PredictResponse(predictions=predictions, model_version=answer.version)

    async def Explain(self, request: pb.ExplainRequest, context: Any) -> Any:
        method = _method_label(pb.ExplainMethod, request.method)
        with self._observed("Explain", request.model, method) as record:
            answer = await self.ops.explain(
                requests.explain(request), requests.caller(context, request.priority)
            )
            record(answer.results)
            explained = responses.per_item(answer.results, responses.explain_result,
                                           pb.ExplainResult)
            return pb.ExplainResponse(results=explained, model_version=answer.version)

    async def ExplainStream(
        self, request_iterator: AsyncIterator[pb.ExplainStreamRequest], context: Any
    ) -> AsyncIterator[pb.ExplainStreamResponse]:
        """Many Explain requests in flight on one stream, answered as each completes; when the
        stream ends or is cancelled, the work of every request on it is cancelled too."""
        answers: asyncio.Queue[pb.ExplainStreamResponse | None] = asyncio.Queue()

        async def answer(message: pb.ExplainStreamRequest) -> None:
            reply = pb.ExplainStreamResponse(request_id=message.request_id[:MAX_REQUEST_ID])
            try:
                if len(message.request_id) > MAX_REQUEST_ID:
                    raise InvalidRequest(f"request_id is over {MAX_REQUEST_ID} characters")
                reply.response.CopyFrom(await self.Explain(message.request, context))
            except Exception as error:  # noqa: BLE001 - answered on the stream, not raised
                reply.error.CopyFrom(responses.item_error(error))
            await answers.put(reply)

        async def read_all() -> None:
            try:
                async with asyncio.TaskGroup() as group:
                    async for message in request_iterator:
                        group.create_task(answer(message))
            finally:
                await answers.put(None)  # also when reading fails: `await reader` raises it

        reader = asyncio.create_task(read_all())
        try:
            while (response := await answers.get()) is not None:
                yield response
            await reader
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def Attack(self, request: pb.AttackRequest, context: Any) -> Any:
        method = _method_label(pb.AttackMethod, request.method)
        with self._observed("Attack", request.model, method) as record:
            answer = await self.ops.attack(
                requests.attack(request), requests.caller(context, request.priority)
            )
            record(answer.results)
            attacked = responses.per_item(answer.results, responses.attack_result,
                                          pb.AttackResult)
            return pb.AttackResponse(results=attacked, model_version=answer.version)

    async def Evaluate(
        self, request: pb.EvaluateRequest, context: Any
    ) -> AsyncIterator[pb.EvaluateResponse]:
        with self._observed("Evaluate", request.model):
            caller = requests.caller(context, request.priority)
            async for message in self.ops.evaluate(requests.evaluate(request), caller):
                yield responses.evaluate_message(message)

    async def Assess(self, request: pb.AssessRequest, context: Any) -> AsyncIterator[Any]:
        with self._observed("Assess", request.model):
            caller = requests.caller(context, request.priority)
            async for message in self.ops.assess(requests.assess(request), caller):
                yield responses.assess_message(message)

    def _observed(self, rpc: str, model: str = "", method: str = "") -> Observation:
        return Observation(self.metrics, rpc, self.ops.label(model) if model else "", method)


def _method_label(enum: Any, number: int) -> str:
    """A metric label for a method enum value: its short name, or "unknown"."""
    try:
        return str(enum.Name(number)).split("_METHOD_", 1)[1].lower()
    except (ValueError, IndexError):
        return "unknown"
