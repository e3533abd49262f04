"""The blocking client. Requests are built and replies read by shared modules; this is transport."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc

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


class SaliencyClient:
    """A blocking client of saliency-service.

    Use it as a context manager, or call `close()`. A call that fails as a whole raises a
    `SaliencyError` subclass; an image that fails inside a call puts its error in its result.
    Bad arguments raise `InvalidArgument` before anything is sent.

    Calls that fail with UNAVAILABLE or RESOURCE_EXHAUSTED are retried (up to 4 attempts,
    with exponential backoff, within the call's deadline): every call is free of side effects.

    Args:
        target: "host:port" or any gRPC target, or several, which calls then rotate over.
            "dns:///saliency.ns.svc:50051" (a Kubernetes headless Service) or
            "ipv4:10.0.0.1:50051,10.0.0.2:50051" balance round-robin over every address.
        timeout: deadline of each call in seconds; None waits forever.
        credentials: for TLS, e.g. `tls_credentials(ca_file=..., cert_file=..., key_file=...)`
            (mutual TLS with a client certificate); None connects in plain text.
        metadata: sent with every call.
        options: gRPC channel options; they override the client's defaults (a 256 MiB reply
            limit, round-robin load balancing and the retry policy; `("grpc.enable_retries",
            0)` turns retries off).
        token: a bearer token for servers with auth, sent as `authorization: Bearer <token>`.
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
        """Open a channel per target; gRPC connects lazily, on the first call."""
        merged = channel_options(options)
        self._channels = [
            grpc.secure_channel(address, credentials, merged)
            if credentials is not None
            else grpc.insecure_channel(address, merged)
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

    def __enter__(self) -> SaliencyClient:
        """Return the client itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the client."""
        self.close()

    def close(self) -> None:
        """Close every channel; calls in flight are cancelled."""
        for channel in self._channels:
            channel.close()

    def _stub(self) -> saliency_pb2_grpc.SaliencyStub:
        return next(self._stubs)

    def _unary(self, rpc: str, request: Any) -> Any:
        """Call `rpc`, retrying while the server answers busy (each try on the next target)."""
        for attempt in itertools.count():
            try:
                return getattr(self._stub(), rpc)(request, **self._per_call)
            except grpc.RpcError as error:
                delay = busy_delay(error, attempt)
                if delay is None:
                    raise from_rpc_error(error) from error
                time.sleep(delay)
        raise AssertionError("unreachable")

    def list_models(self) -> list[ModelInfo]:
        """Return the models in the server's repository."""
        response: pb.ListModelsResponse = self._unary("ListModels", pb.ListModelsRequest())
        return [_convert.model_info(model) for model in response.models]

    def get_model(self, name: str) -> ModelInfo:
        """Return one model, with the layers CAM methods may name.

        Raises:
            NotFound: the server has no such model.
        """
        response: pb.GetModelResponse = self._unary("GetModel", pb.GetModelRequest(name=name))
        return _convert.model_info(response.model)

    def list_methods(self) -> list[MethodInfo]:
        """Return the explanation and attack methods with their parameters."""
        response: pb.ListMethodsResponse = self._unary("ListMethods", pb.ListMethodsRequest())
        return _convert.method_infos(response)

    def list_metrics(self) -> list[MetricInfo]:
        """Return the metrics `assess` computes, with their parameters."""
        response: pb.ListMethodsResponse = self._unary("ListMethods", pb.ListMethodsRequest())
        return _convert.metric_infos(response)

    def predict(
        self, images: Images, *, model: str, top_k: int = 5, priority: int = 0
    ) -> list[Prediction]:
        """Return the `top_k` best classes of each image, scored by ONNX Runtime.

        Args:
            images: one image (H, W, C) or (H, W), a batch (N, H, W, C), encoded PNG/JPEG bytes,
                or a list mixing arrays and bytes. uint8 in [0, 255] or float in [0, 1].
            model: the model's name.
            top_k: how many classes per image.
            priority: higher runs first when the server is busy.
        """
        request = predict_request(images, model=model, top_k=top_k, priority=priority)
        response: pb.PredictResponse = self._unary("Predict", request)
        return _convert.predictions(response)

    def explain(
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
        """Explain each image: heatmaps for its target classes.

        Args:
            images: as for `predict`.
            model: the model's name.
            method: a short name such as "grad_cam" or "integrated_gradients".
            targets: None explains the predicted class (or the `top_k` best); an int explains
                that class in every image; a list gives each image an int, a list of ints, or
                None. A list is always per image: one image with two classes is `[[3, 5]]`.
            top_k: how many of the best classes to explain for images without targets.
            priority: higher runs first when the server is busy.
            **params: the method's parameters (`list_methods` lists them); None keeps the
                server's default.
        """
        request = explain_request(
            images, model=model, method=method, targets=targets, top_k=top_k,
            params=params, priority=priority,
        )
        response: pb.ExplainResponse = self._unary("Explain", request)
        return _convert.explain_results(response)

    def attack(
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
        """Make an adversarial example of each image, re-checked by ONNX Runtime.

        Args:
            images: as for `predict`.
            model: the model's name.
            method: a short name such as "fgsm", "pgd" or "minimal_epsilon".
            labels: the true class of every image, or one per image; None (or a None entry)
                uses the predicted class.
            target_classes: for targeted attacks, one class for every image or one per image.
            eps: the perturbation budget (pixels in [0, 1]), for every image or one per image;
                None keeps the server's default.
            priority: higher runs first when the server is busy.
            **params: the attack's parameters, e.g. `steps=10`.
        """
        request = attack_request(
            images, model=model, method=method, labels=labels, target_classes=target_classes,
            eps=eps, params=params, priority=priority,
        )
        response: pb.AttackResponse = self._unary("Attack", request)
        return _convert.attack_results(response)

    def evaluate(
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
        """Measure robustness over a labelled batch; the client's `timeout` bounds the whole run.

        Args:
            images: as for `predict`.
            labels: the true class of each image.
            model: the model's name.
            attacks: attack names, or names mapped to their parameters.
            epsilons: the ε at which accuracy under each attack is measured.
            stability_methods: explanation methods whose maps' stability is measured.
            autoattack: also robust accuracy under an ensemble, an image counting only if every
                attack fails: True for AutoAttack's standard four (APGD-CE, APGD-T, FAB-T,
                Square), or the attacks in order (names, or names mapped to their params).
            autoattack_epsilons: the ε of the ensemble; empty: the largest of `epsilons`.
            progress: called with (fraction done, stage) as the server reports progress.

        Raises:
            Internal: the server's stream ended without a report.
        """
        request = evaluate_request(
            images, labels, model=model, attacks=attacks, epsilons=epsilons,
            stability_methods=stability_methods, autoattack=autoattack,
            autoattack_epsilons=autoattack_epsilons,
        )
        report: EvaluateReport = self._report("Evaluate", request, progress)
        return report

    def assess(
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
        """Judge each method's maps of the images by each metric; the client's `timeout`
        bounds the whole run (`list_metrics` lists the metrics and their parameters).

        Args:
            images: as for `predict`.
            model: the model's name.
            methods: explanation methods: names, names mapped to their parameters, or
                (name, parameters) pairs, e.g. `["grad_cam", ("smoothgrad", {"samples": 8})]`.
            metrics: the same for metrics, e.g. `{"deletion": {"steps": 20}, "sparseness": {}}`.
            targets: the class to assess each image's maps for; None (or a None entry) uses
                the predicted class.
            masks: ground truth for localisation metrics: (N, H, W), or one (H, W) array (or
                None) per image, nonzero on the object, at each image's resolution.
            boxes: ground truth as boxes (x0, y0, x1, y1), a list per image (or None).
            progress: called with (fraction done, stage) as the server reports progress.
            priority: higher runs first when the server is busy.

        Raises:
            Internal: the server's stream ended without a report.
        """
        request = assess_request(
            images, model=model, methods=methods, metrics=metrics, targets=targets, masks=masks,
            boxes=boxes, priority=priority,
        )
        report: AssessReport = self._report("Assess", request, progress)
        return report

    def _report(self, rpc: str, request: Any, progress: ProgressCallback | None) -> Any:
        """Run a report stream (Evaluate, Assess): progress as it comes, then the report."""
        with translate_rpc_errors():
            responses: Iterator[Any] = getattr(self._stub(), rpc)(request, **self._per_call)
            for response in responses:
                report = report_or_progress(response, progress)
                if report is not None:
                    return report
        raise Internal(f"the {rpc} stream ended without a report")

    def explain_stream(self, jobs: Iterable[ExplainJob]) -> Iterator[ExplainStreamResult]:
        """Send many Explain requests on one stream; yield each answer as it arrives.

        Answers may come back in any order; match them by `request_id`. `jobs` is read lazily,
        so it may be a generator. A bad job ends the stream with `InvalidArgument`.
        """
        feed = JobFeed(jobs)
        try:
            responses: Iterator[pb.ExplainStreamResponse] = self._stub().ExplainStream(
                feed, **self._per_call
            )
            for response in responses:
                yield _convert.explain_stream_result(response)
        except grpc.RpcError as error:
            raise feed.stream_error(error) from error
