"""Channel settings and stream plumbing shared by the sync and asyncio clients."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import grpc

from saliency_client._convert import evaluate_report
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._requests import ExplainJob, explain_stream_request
from saliency_client.errors import InvalidArgument, SaliencyError, from_rpc_error
from saliency_client.results import EvaluateReport

ChannelOptions = Sequence[tuple[str, Any]]
Metadata = Sequence[tuple[str, str | bytes]]
ProgressCallback = Callable[[float, str], None]
"""Called with (progress in [0, 1], stage name) for each progress message of Evaluate."""

_MIB = 1024 * 1024
_DEFAULT_OPTIONS: dict[str, Any] = {
    # gRPC refuses replies over 4 MiB by default; a batch of heatmaps or adversarial images
    # (32 × 224 × 224 × 3 float32 is 19 MiB) is far larger.
    "grpc.max_receive_message_length": 256 * _MIB,
    # gRPC keeps connections open, so a "dns:///" name with many addresses (a Kubernetes
    # headless Service) would pin every call to one pod under the default pick_first.
    "grpc.lb_policy_name": "round_robin",
}


def target_list(target: str | Sequence[str]) -> list[str]:
    """Return the server addresses to rotate calls over.

    Raises:
        InvalidArgument: no address is given.
    """
    targets = [target] if isinstance(target, str) else list(target)
    if not targets:
        raise InvalidArgument("no server address given")
    return targets


def channel_options(options: ChannelOptions) -> list[tuple[str, Any]]:
    """Return the client's default channel options overridden by the caller's."""
    return list({**_DEFAULT_OPTIONS, **dict(options)}.items())


def report_or_progress(
    response: pb.EvaluateResponse, progress: ProgressCallback | None
) -> EvaluateReport | None:
    """Report one Evaluate stream message's progress, and return the report if it carries it."""
    if progress is not None:
        progress(response.progress, response.stage)
    return evaluate_report(response.report) if response.HasField("report") else None


class JobFeed(Iterator[pb.ExplainStreamRequest]):
    """Converts explain-stream jobs to requests as gRPC asks for them, keeping the first error.

    gRPC consumes a request iterator itself and reports an exception there only as a cancelled
    call (an RpcError, or asyncio.CancelledError under grpc.aio), so the caller would never see
    which job was bad; `error` keeps it.
    """

    def __init__(self, jobs: Iterable[ExplainJob]) -> None:
        """Wrap `jobs`, which is consumed lazily."""
        self._jobs = iter(jobs)
        self.error: InvalidArgument | None = None

    def __next__(self) -> pb.ExplainStreamRequest:
        """Convert the next job."""
        job = next(self._jobs)
        try:
            return explain_stream_request(job)
        except InvalidArgument as error:
            self.error = InvalidArgument(f"explain stream job '{job.request_id}': {error}")
            raise

    def stream_error(self, error: grpc.RpcError) -> SaliencyError:
        """Return the error to raise for a failed stream: a bad job's, else the call's."""
        return self.error or from_rpc_error(error)
