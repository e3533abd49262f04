"""Channel settings and stream plumbing shared by the sync and asyncio clients."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from saliency_client._convert import assess_report, evaluate_report
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._requests import ExplainJob, explain_stream_request
from saliency_client.errors import InvalidArgument, SaliencyError, from_rpc_error
from saliency_client.results import AssessReport, EvaluateReport

ChannelOptions = Sequence[tuple[str, Any]]
Metadata = Sequence[tuple[str, str | bytes]]
ProgressCallback = Callable[[float, str], None]
"""Called with (progress in [0, 1], stage name) for each progress message of Evaluate and
Assess."""

_MIB = 1024 * 1024
# Every saliency.v1 call is free of side effects, so each may be retried. gRPC retries
# UNAVAILABLE (a pod draining or gone; round-robin then picks another) with exponential
# backoff; throttling stops retries once more than ~10% of calls fail, so a fleet that is
# overloaded as a whole is not hit with extra load.
# https://github.com/grpc/proposal/blob/master/A6-client-retries.md
# RESOURCE_EXHAUSTED is retried by the client itself (`busy_delay`), and only when the server
# marked it busy: a request over a cap, or too large for a message, would fail again.
_SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [{"service": "saliency.v1.Saliency"}],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.1s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
    "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
}
_DEFAULT_OPTIONS: dict[str, Any] = {
    # gRPC refuses replies over 4 MiB by default; a batch of heatmaps or adversarial images
    # (32 × 224 × 224 × 3 float32 is 19 MiB) is far larger.
    "grpc.max_receive_message_length": 256 * _MIB,
    # gRPC keeps connections open, so a "dns:///" name with many addresses (a Kubernetes
    # headless Service) would pin every call to one pod under the default pick_first.
    "grpc.lb_policy_name": "round_robin",
    "grpc.enable_retries": 1,
    "grpc.service_config": json.dumps(_SERVICE_CONFIG),
}


# The trailing metadata with which the server marks RESOURCE_EXHAUSTED as "busy: retry later".
RETRY_AFTER = "saliency-retry-after-ms"
BUSY_ATTEMPTS = 4
_BUSY_BACKOFF_S, _BUSY_BACKOFF_CAP_S = 0.1, 2.0


def busy_delay(error: grpc.RpcError, attempt: int) -> float | None:
    """Seconds to wait before retrying a call that failed with `error` on attempt `attempt`
    (0-based), or None not to retry: only a RESOURCE_EXHAUSTED that the server marked busy is
    retried, at most BUSY_ATTEMPTS times in all, backing off exponentially."""
    if attempt + 1 >= BUSY_ATTEMPTS or not isinstance(error, grpc.Call | grpc.aio.AioRpcError):
        return None
    if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    marked = [v for k, v in (error.trailing_metadata() or ()) if k == RETRY_AFTER]
    if not marked:
        return None
    try:
        after = int(marked[0]) / 1000
    except ValueError:
        return None
    return float(min(max(after, _BUSY_BACKOFF_S * 2**attempt), _BUSY_BACKOFF_CAP_S))


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


def call_metadata(metadata: Metadata, token: str | None) -> tuple[tuple[str, str | bytes], ...]:
    """Return `metadata` plus, given a `token`, the `authorization: Bearer` header.

    Raises:
        InvalidArgument: the token is empty or has white space, which no header can carry.
    """
    if token is None:
        return tuple(metadata)
    if not token or token != token.strip() or any(c.isspace() for c in token):
        raise InvalidArgument("token must be non-empty and without white space")
    return (*metadata, ("authorization", f"Bearer {token}"))


def tls_credentials(
    ca_file: str | os.PathLike[str] | None = None,
    cert_file: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
) -> grpc.ChannelCredentials:
    """Return credentials for a TLS channel; with `cert_file` and `key_file`, mutual TLS.

    Args:
        ca_file: PEM CA that signed the server's certificate; None trusts the system's roots.
        cert_file: PEM certificate chain the client presents (for servers that require one).
        key_file: PEM private key of `cert_file`.

    Raises:
        InvalidArgument: only one of `cert_file` and `key_file` is given.
        OSError: a file cannot be read.
    """
    if (cert_file is None) != (key_file is None):
        raise InvalidArgument("cert_file and key_file must be given together")

    def read(path: str | os.PathLike[str] | None) -> bytes | None:
        return None if path is None else Path(path).read_bytes()

    return grpc.ssl_channel_credentials(
        root_certificates=read(ca_file),
        private_key=read(key_file),
        certificate_chain=read(cert_file),
    )


def report_or_progress(
    response: pb.EvaluateResponse | pb.AssessResponse, progress: ProgressCallback | None
) -> EvaluateReport | AssessReport | None:
    """Report one Evaluate or Assess stream message's progress, and return the report if it
    carries it."""
    if progress is not None:
        progress(response.progress, response.stage)
    if not response.HasField("report"):
        return None
    if isinstance(response, pb.AssessResponse):
        return assess_report(response.report)
    return evaluate_report(response.report)


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
