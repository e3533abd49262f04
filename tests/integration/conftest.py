"""A real server process over a repository with one ready model and many broken or hostile ones.

Shared by the loading and the memory tests, so the slow start (every model exported to ONNX)
is paid once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile_models import write_mixed_repository
from tests.integration.server_process import ServerProcess


@pytest.fixture(scope="session")
def hostile_markers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the hostile model files would create their markers if anything in them ran."""
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="session")
def mixed_server(
    tmp_path_factory: pytest.TempPathFactory, hostile_markers: Path
) -> Iterator[ServerProcess]:
    """`saliency-server` over `write_mixed_repository`, in its own process."""
    repository = write_mixed_repository(tmp_path_factory.mktemp("mixed"), hostile_markers)
    with ServerProcess(repository) as server:
        yield server
