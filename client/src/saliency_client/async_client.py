"""The asyncio client: `SaliencyClient`'s methods as coroutines over grpc.aio."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc
import grpc.aio

from saliency_client import _convert
from saliency_client._assess import Boxes, Masks, Named, assess_request
from saliency_client._channel import (
    ChannelOptions,
    JobFeed,
    Metadata,
    ProgressCallback,
    busy_delay,
    call_metadata,
    channel_options,
    report_or_progress,
    target_list,
)
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc
from saliency_client._requests import (
    ExplainJob,
    Images,
    Params,
    PerImageFloat,
    PerImageInt,
    Targets,
    attack_request,
    evaluate_request,
    explain_request,
    predict_request,
)
from saliency_client.arrays import ParamValue
from saliency_client.errors import Internal, from_rpc_error, translate_rpc_errors
from saliency_client.results import (
    AssessReport,
    AttackResult,
    EvaluateReport,
    ExplainResult,
    ExplainStreamResult,
    MethodInfo,
    MetricInfo,
    ModelInfo,
    Prediction,
)


class AsyncSaliencyClient:
    """An asyncio client of saliency-service; arguments and results are `SaliencyClient`'s.

    Use it as an async context manager, or await `close()`.
    """

    def __init__(
        self,
        target: str | Sequence[str],
        *,
        timeout: float | None = 60.0,
        credentials: grpc.ChannelCredentials | None = None,
        metadata: Metadata = (),
        options: ChannelOptions = (),
        token: str | None = None,
    ) -> None:
        """Open a channel per target, as `SaliencyClient` does."""
        merged = channel_options(options)
        self._channels = [
            grpc.aio.secure_channel(address, credentials, merged)
            if credentials is not None
            else grpc.aio.insecure_channel(address, merged)
            for address in target_list(target)
        ]
        # The generated stub is untyped; each call's reply is annotated with its message type.
        stubs = [saliency_pb2_grpc.SaliencyStub(c) for c in self._channels]  # type: ignore[no-untyped-call]
        self._stubs = itertools.cycle(stubs)
        # Every call gets the client's deadline and metadata.
        self._per_call: dict[str, Any] = {
            "timeout": timeout,
            "metadata": call_metadata(metadata, token),
        }

    async def __aenter__(self) -> AsyncSaliencyClient:
        """Return the client itself."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the client."""
        await self.close()

    async def close(self) -> None:
        """Close every channel; calls in flight are cancelled."""
        for channel in self._channels:
            await channel.close()

    def _stub(self) -> saliency_pb2_grpc.SaliencyStub:
        return next(self._stubs)

    async def _unary(self, rpc: str, request: Any) -> Any:
        """See `SaliencyClient._unary`."""
        for attempt in itertools.count():
            try:
                return await getattr(self._stub(), rpc)(request, **self._per_call)
            except grpc.RpcError as error:
                delay = busy_delay(error, attempt)
                if delay is None:
                    raise from_rpc_error(error) from error
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def list_models(self) -> list[ModelInfo]:
        """See `SaliencyClient.list_models`."""
        response: pb.ListModelsResponse = await self._unary("ListModels", pb.ListModelsRequest())
        return [_convert.model_info(model) for model in response.models]

    async def get_model(self, name: str) -> ModelInfo:
        """See `SaliencyClient.get_model`."""
        response: pb.GetModelResponse = await self._unary("GetModel", pb.GetModelRequest(name=name))
        return _convert.model_info(response.model)

    async def list_methods(self) -> list[MethodInfo]:
        """See `SaliencyClient.list_methods`."""
        response: pb.ListMethodsResponse = await self._unary("ListMethods", pb.ListMethodsRequest())
        return _convert.method_infos(response)

    async def list_metrics(self) -> list[MetricInfo]:
        """See `SaliencyClient.list_metrics`."""
        response: pb.ListMethodsResponse = await self._unary("ListMethods", pb.ListMethodsRequest())
        return _convert.metric_infos(response)

    async def predict(
        self, images: Images, *, model: str, top_k: int = 5, priority: int = 0
    ) -> list[Prediction]:
        """See `SaliencyClient.predict`."""
        request = predict_request(images, model=model, top_k=top_k, priority=priority)
        response: pb.PredictResponse = await self._unary("Predict", request)
        return _convert.predictions(response)

    async def explain(
        self,
        images: Images,
        *,
        model: str,
        method: str,
        targets: Targets = None,
        top_k: int = 1,
        priority: int = 0,
        **params: ParamValue | None,
    ) -> list[ExplainResult]:
        """See `SaliencyClient.explain`."""
        request = explain_request(
            images, model=model, method=method, targets=targets, top_k=top_k,
            params=params, priority=priority,
        )
        response: pb.ExplainResponse = await self._unary("Explain", request)
        return _convert.explain_results(response)

    async def attack(
        self,
        images: Images,
        *,
        model: str,
        method: str = "pgd",
        labels: PerImageInt = None,
        target_classes: PerImageInt = None,
        eps: PerImageFloat = None,
        priority: int = 0,
        **params: ParamValue | None,
    ) -> list[AttackResult]:
        """See `SaliencyClient.attack`."""
        request = attack_request(
            images, model=model, method=method, labels=labels, target_classes=target_classes,
            eps=eps, params=params, priority=priority,
        )
        response: pb.AttackResponse = await self._unary("Attack", request)
        return _convert.attack_results(response)

    async def evaluate(
        self,
        images: Images,
        labels: Sequence[int],
        *,
        model: str,
        attacks: Mapping[str, Params] | Sequence[str] = (),
        epsilons: Sequence[float] = (),
        stability_methods: Sequence[str] = (),
        autoattack: bool | Mapping[str, Params] | Sequence[str] = False,
        autoattack_epsilons: Sequence[float] = (),
        progress: ProgressCallback | None = None,
    ) -> EvaluateReport:
        """See `SaliencyClient.evaluate`."""
        request = evaluate_request(
            images, labels, model=model, attacks=attacks, epsilons=epsilons,
            stability_methods=stability_methods, autoattack=autoattack,
            autoattack_epsilons=autoattack_epsilons,
        )
        report: EvaluateReport = await self._report("Evaluate", request, progress)
        return report

    async def assess(
        self,
        images: Images,
        *,
        model: str,
        methods: Named,
        metrics: Named,
        targets: PerImageInt = None,
        masks: Masks = None,
        boxes: Boxes = None,
        progress: ProgressCallback | None = None,
        priority: int = 0,
    ) -> AssessReport:
        """See `SaliencyClient.assess`."""
        request = assess_request(
            images, model=model, methods=methods, metrics=metrics, targets=targets, masks=masks,
            boxes=boxes, priority=priority,
        )
        report: AssessReport = await self._report("Assess", request, progress)
        return report

    async def _report(self, rpc: str, request: Any, progress: ProgressCallback | None) -> Any:
        """See `SaliencyClient._report`."""
        with translate_rpc_errors():
            responses: AsyncIterator[Any] = getattr(self._stub(), rpc)(request, **self._per_call)
            async for response in responses:
                report = report_or_progress(response, progress)
                if report is not None:
                    return report
        raise Internal(f"the {rpc} stream ended without a report")

    async def explain_stream(
        self, jobs: Iterable[ExplainJob]
    ) -> AsyncIterator[ExplainStreamResult]:
        """See `SaliencyClient.explain_stream`."""
        feed = JobFeed(jobs)
        try:
            responses: AsyncIterator[pb.ExplainStreamResponse] = self._stub().ExplainStream(
                feed, **self._per_call
            )
            async for response in responses:
                yield _convert.explain_stream_result(response)
        except grpc.RpcError as error:
            raise feed.stream_error(error) from error
        except asyncio.CancelledError:
            if feed.error is None:  # a real cancellation of the caller's task
                raise
            raise feed.error from None
