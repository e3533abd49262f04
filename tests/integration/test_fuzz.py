"""Fuzz a real server process with 10 000+ malformed and hostile requests.

Every answer must be a clean status: the call's own, and each image's inside a reply. NOT_FOUND
(an unknown model name) is clean too. INTERNAL or UNKNOWN would mean a hostile input reached
code that did not expect it. The server runs as a child process so that its own memory is
measured (/proc/<pid>/status), not the test's, which holds hypothesis and the client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from saliency_client import SaliencyClient
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb

from tests.integration import hostile
from tests.integration.hostile_calls import MIB, Call, calls
from tests.integration.server_process import ServerProcess, write_tiny_repository

pytestmark = pytest.mark.integration

EXAMPLES = 10_000
LIMITS = {
    "SALIENCY_MAX_MESSAGE_BYTES": str(MIB),
    "SALIENCY_MAX_IMAGE_PIXELS": str(256 * 256),
    "SALIENCY_MAX_ITEMS_PER_REQUEST": "8",
}
CLEAN = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.NOT_FOUND,
}
CLEAN_NUMBERS = {code.value[0] for code in CLEAN}
SERVICE = "/saliency.v1.Saliency/"
REPLIES = {
    "Predict": pb.PredictResponse,
    "Explain": pb.ExplainResponse,
    "Attack": pb.AttackResponse,
    "GetModel": pb.GetModelResponse,
    "ListModels": pb.ListModelsResponse,
}
# Headroom over the RSS after warm-up; far below what one decoded bomb or a leaked
# 1 MiB message per request (10 GiB) would take.
RSS_GROWTH_LIMIT = 256 * MIB


class Prober:
    """Sends `Call`s over one connection, checks every status, and samples the server's RSS."""

    def __init__(self, channel: grpc.Channel, server: ServerProcess) -> None:
        self.channel = channel
        self.server = server
        self.sent = 0
        self.codes: dict[grpc.StatusCode, int] = {}
        self.rss: list[int] = []

    def send(self, call: Call) -> None:
        code = self._invoke(call)
        self.codes[code] = self.codes.get(code, 0) + 1
        assert code in CLEAN, (call, code)
        if call.expect is not None:
            assert code == call.expect, (call.rpc, code)
        self.sent += 1
        if self.sent % 500 == 0:
            self.rss.append(self.server.rss_bytes())

    def _invoke(self, call: Call) -> grpc.StatusCode:
        path = SERVICE + call.rpc
        try:
            if call.rpc == "ExplainStream":
                replies = self.channel.stream_stream(path)(iter(call.payload), timeout=120)
                for reply in replies:
                    check_stream_reply(pb.ExplainStreamResponse.FromString(reply))
            elif call.rpc in ("Evaluate", "Assess"):
                for _ in self.channel.unary_stream(path)(call.payload, timeout=120):
                    pass
            else:
                reply = self.channel.unary_unary(path)(call.payload, timeout=120)
                check_items(REPLIES[call.rpc].FromString(reply))
        except grpc.RpcError as error:
            return error.code()  # type: ignore[attr-defined, no-any-return]
        return grpc.StatusCode.OK


def check_items(reply: object) -> None:
    """Each image's own error in a successful reply is clean too."""
    for field in ("results", "predictions"):
        for result in getattr(reply, field, ()):
            assert result.error.code in CLEAN_NUMBERS, result.error


def check_stream_reply(reply: pb.ExplainStreamResponse) -> None:
    assert reply.error.code in CLEAN_NUMBERS, reply.error
    check_items(reply.response)


def method_specs(channel: grpc.Channel) -> hostile.Specs:
    """Each method's parameter specs, keyed "explain:<enum>" or "attack:<enum>"."""
    reply = pb.ListMethodsResponse.FromString(
        channel.unary_unary(SERVICE + "ListMethods")(b"", timeout=60)
    )
    return {
        f"{m.WhichOneof('method')}:{getattr(m, m.WhichOneof('method'))}": list(m.params)
        for m in reply.methods
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    repository = write_tiny_repository(tmp_path_factory.mktemp("repository"))
    with ServerProcess(repository, env=LIMITS) as process:
        yield process


def fuzz(prober: Prober, specs: hostile.Specs) -> Callable[[], None]:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same 10 000 requests on every CI run
        suppress_health_check=list(HealthCheck),
    )
    @given(calls(specs))
    def run(call: Call) -> None:
        prober.send(call)

    return run


def test_hostile_requests_get_clean_statuses_in_bounded_memory(server: ServerProcess) -> None:
    options = [("grpc.enable_retries", 0), ("grpc.max_receive_message_length", 64 * MIB)]
    with grpc.insecure_channel(server.target, options=options) as channel:
        prober = Prober(channel, server)
        fuzz(prober, method_specs(channel))()

    assert prober.sent >= EXAMPLES
    # The fuzz reached every kind of refusal, and compute too.
    for code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
                 grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.NOT_FOUND):
        assert prober.codes.get(code, 0) > 0, prober.codes
    warm = prober.rss[len(prober.rss) // 4]
    assert max(prober.rss) - warm < RSS_GROWTH_LIMIT, [r // MIB for r in prober.rss]

    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with SaliencyClient(server.target, timeout=60) as client:
        (result,) = client.explain(image, model="shapes", method="integrated_gradients")
        assert result.error is None
        assert result.explanations[0].heatmap.shape == (32, 32)
    assert server.process.poll() is None


# Regressions: the first hostile inputs the fuzz found, kept as fixed cases.


@pytest.mark.parametrize(
    "call",
    [Call("Explain", b"\x00"), Call("Evaluate", b"\xff\xff"), Call("Assess", b"\xff\xff"),
     Call("ExplainStream", (b"\x00",))],
    ids=["unary", "server-stream", "assess", "bidi-stream"],
)
def test_corrupt_protobuf_is_invalid_argument(server: ServerProcess, call: Call) -> None:
    with grpc.insecure_channel(server.target, options=[("grpc.enable_retries", 0)]) as channel:
        assert Prober(channel, server)._invoke(call) == grpc.StatusCode.INVALID_ARGUMENT


def test_an_empty_tensor_with_absurd_dimensions_fails_alone(server: ServerProcess) -> None:
    absurd = pb.Tensor(shape=[0, 2**62, 3], dtype=pb.DTYPE_UINT8, data=b"")
    request = pb.ExplainRequest(
        model="shapes",
        method=pb.EXPLAIN_METHOD_GRAD_CAM,
        items=[pb.ExplainItem(image=pb.Image(pixels=absurd))],
    )
    with grpc.insecure_channel(server.target) as channel:
        reply = pb.ExplainResponse.FromString(
            channel.unary_unary(SERVICE + "Explain")(request.SerializeToString(), timeout=60)
        )
    assert reply.results[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "larger than any message" in reply.results[0].error.message
