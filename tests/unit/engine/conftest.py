"""Fixtures: a small random-weight model loaded as the server loads it, and a loop for futures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from saliency_service.models.config import read_model_config
from saliency_service.models.loading import LoadedModel, load_model

from tests.random_models import write_model
from tests.unit.engine.support import CPU, SIZE


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model(tmp_path_factory.mktemp("repository"), "tiny", size=SIZE)


@pytest.fixture(scope="session")
def model(repository: Path) -> LoadedModel:
    """The tiny CNN (4 classes, 32 px), loaded with its ONNX export like the server does."""
    return load_model(read_model_config(repository / "tiny"), CPU)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop to make work items' futures; worker-side code only reads them."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
