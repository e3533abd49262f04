"""Channel defaults and the explain-stream request feed."""

from __future__ import annotations

import grpc
import grpc.aio
import numpy as np
import pytest
from saliency_client._channel import JobFeed, channel_options, target_list
from saliency_client._requests import ExplainJob
from saliency_client.errors import InvalidArgument, Unavailable

IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)


def test_caller_options_override_the_defaults() -> None:
    options = dict(channel_options([("grpc.max_receive_message_length", 1024), ("x", 1)]))
    assert options["grpc.max_receive_message_length"] == 1024
    assert options["grpc.lb_policy_name"] == "round_robin"
    assert options["x"] == 1
    assert dict(channel_options([]))["grpc.max_receive_message_length"] > 4 * 1024 * 1024


def test_targets() -> None:
    assert target_list("localhost:1") == ["localhost:1"]
    assert target_list(("a:1", "b:2")) == ["a:1", "b:2"]
    with pytest.raises(InvalidArgument, match="no server address"):
        target_list([])


def test_feed_converts_lazily_and_names_the_bad_job() -> None:
    jobs = [
        ExplainJob("good", IMAGE, model="m", method="grad_cam"),
        ExplainJob("bad", IMAGE, model="m", method="nope"),
    ]
    feed = JobFeed(iter(jobs))
    assert next(feed).request_id == "good"
    with pytest.raises(InvalidArgument):
        next(feed)
    error = feed.stream_error(grpc.RpcError())
    assert isinstance(error, InvalidArgument)
    assert "job 'bad'" in error.details
    assert "unknown explain method 'nope'" in error.details


def test_feed_without_a_bad_job_reports_the_calls_error() -> None:
    refused = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(),
        details="connection refused",
    )
    feed = JobFeed([])
    with pytest.raises(StopIteration):
        next(feed)
    error = feed.stream_error(refused)
    assert isinstance(error, Unavailable)
    assert error.details == "connection refused"
