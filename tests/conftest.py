"""Fixtures shared by every test folder: the real demo server on a real port."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from tests.serving import ServerThread


@pytest.fixture(scope="session")
def demo_server() -> Iterator[ServerThread]:
    """`saliency-server` on the built-in demo repository, bound to a free loopback port."""
    from saliency_service.config import DEMO_REPOSITORY

    server = ServerThread(DEMO_REPOSITORY)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def grpc_target(demo_server: ServerThread) -> str:
    """"127.0.0.1:PORT" of the demo server."""
    return demo_server.target


@pytest.fixture
def channel(grpc_target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grpc_target) as channel:
        yield channel
