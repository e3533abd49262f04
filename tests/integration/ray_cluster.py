"""A real local Ray cluster for tests: `ray start --head --block` in its own process group.

Small on purpose (2 CPUs, a small object store, no dashboard): Ray's start-up is what costs on
a 2-core machine, so the tests start one head and run every bulk job against it by address.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from tests.integration.server_process import unused_port, wait_until

MiB = 1 << 20


def ray_environment() -> dict[str, str]:
    """The environment of the head and of every driver: loopback only (Ray's single-machine
    mode, as on macOS), no token authentication (nothing but this test can reach it)."""
    return {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
            "PYTHONUNBUFFERED": "1"}


class RayHead:
    """A Ray head node on loopback; `address` is what `--address` takes."""

    def __init__(self, temp_dir: Path, num_cpus: int = 2, object_store_mb: int = 96) -> None:
        port = unused_port()
        self.address = f"127.0.0.1:{port}"
        ray = Path(sys.executable).with_name("ray")
        command = [
            str(ray), "start", "--head", "--block", f"--port={port}",
            "--node-ip-address=127.0.0.1", f"--num-cpus={num_cpus}", "--num-gpus=0",
            f"--object-store-memory={object_store_mb * MiB}", "--include-dashboard=false",
            f"--temp-dir={temp_dir}", "--disable-usage-stats",
            f"--ray-client-server-port={unused_port()}", f"--dashboard-port={unused_port()}",
            f"--dashboard-agent-listen-port={unused_port()}",
            f"--metrics-export-port={unused_port()}",
        ]
        self.log = temp_dir / "head.log"
        temp_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env=ray_environment(),
            )
        if not wait_until(lambda: "Ray runtime started" in self.log.read_text() or
                          self.process.poll() is not None, timeout=120, step=0.2):
            self.stop()
            raise RuntimeError("ray start did not finish:\n" + self.log.read_text()[-3000:])
        if self.process.poll() is not None:
            raise RuntimeError("ray start failed:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        """Kill the head's process group: `ray start` and the daemons and workers it started
        (a SIGTERM would drain for 30 s first; there is nothing here to drain)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def __enter__(self) -> RayHead:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
