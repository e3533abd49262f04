"""After a burst of large requests the server's memory goes back to within a margin of idle.

The allocator keeps large tensors' pages between passes (allocator.py); once the engine has been
idle for a second it hands the free ones back. Waits are bounded polls; nothing is timed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from saliency_client import SaliencyClient

from tests.hostile_models import READY_SIZE
from tests.integration.server_process import ServerProcess, wait_until

pytestmark = pytest.mark.integration
MiB = 1 << 20
# The documented margin (README, "Memory"): after a burst, RSS returns within this of idle.
MARGIN = 64 * MiB


def settled_rss(server: ServerProcess) -> int:
    """The server's RSS once it stops falling (its idle release done), within 20 s."""
    readings = [server.rss_bytes()]

    def steady() -> bool:
        readings.append(server.rss_bytes())
        return len(readings) > 4 and max(readings[-4:]) - min(readings[-4:]) < 2 * MiB

    wait_until(steady, timeout=20, step=0.5)
    return readings[-1]


def test_rss_returns_near_idle_after_a_burst(mixed_server: ServerProcess) -> None:
    server = mixed_server
    size = READY_SIZE
    images = list(np.random.default_rng(0).integers(0, 256, (32, size, size, 3), dtype=np.uint8))
    with SaliencyClient(server.target, timeout=300) as client:

        def explain(count: int) -> None:
            results = client.explain(images[:count], model="shapes", method="vanilla_gradient")
            assert all(r.error is None for r in results)

        explain(32)  # warm-up: the engine's memory probe, oneDNN's kernels for these shapes
        idle = settled_rss(server)
        with ThreadPoolExecutor(3) as clients:
            list(clients.map(explain, [32, 32]))
        peak = server.peak_rss_bytes()
        assert peak - idle > 4 * MARGIN, "the burst did not grow memory: the test shows nothing"
        returned = wait_until(lambda: server.rss_bytes() <= idle + MARGIN, timeout=30, step=0.25)
        assert returned, (
            f"RSS {server.rss_bytes() / MiB:.0f} MiB stays over idle {idle / MiB:.0f} MiB "
            f"+ {MARGIN / MiB:.0f} MiB after a burst that peaked at {peak / MiB:.0f} MiB"
        )
