"""Run a real server on a real port inside the test process (its own event loop thread)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from saliency_service.config import ServerConfig

if TYPE_CHECKING:
    from saliency_service.transport.server import RunningServer


class ServerThread:
    """A started `create_server` (the code `saliency-server` runs) on a background loop."""

    def __init__(self, repository: Path, **settings: object) -> None:
        self.config = replace(ServerConfig(repository=repository, host="127.0.0.1", port=0,
                                           metrics_port=0), **settings)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        from saliency_service.transport.server import create_server

        self.running: RunningServer = self._call(create_server(self.config), timeout=600)
        self.target = f"127.0.0.1:{self.running.port}"

    def _call(self, coroutine, timeout: float = 60):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self, grace: float = 1.0) -> None:
        self._call(self.running.stop(grace))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()  # its self-pipe sockets too, or gc warns about them at exit
