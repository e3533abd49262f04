"""`python -m saliency_service` as a real child process, and a tiny model repository for it.

Tests that signal the server or measure its memory need it in its own process; the others use
the in-process `ServerThread` of tests/serving.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

LISTENING = re.compile(r"serving \S+ on port (\d+)")
LABELS = ["circle", "square", "triangle", "cross", "star", "ring"]


def write_tiny_repository(root: Path, size: int = 32) -> Path:
    """A repository with one model, "shapes": the demo CNN with random weights at `size` px.

    The weights are made from the current architecture, so the test never depends on the
    trained demo weights, and compute stays cheap.
    """
    import safetensors.torch
    import torch
    from saliency_service.models.shapes_cnn import ShapesCNN

    folder = root / "shapes"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    network = ShapesCNN(num_classes=len(LABELS)).eval()
    safetensors.torch.save_file(network.state_dict(), str(folder / "weights.safetensors"))
    (folder / "model.toml").write_text(
        'architecture = "builtin:shapes_cnn"\n'
        'weights = "weights.safetensors"\n'
        f"labels = {json.dumps(LABELS)}\n"
        f"[input]\nheight = {size}\nwidth = {size}\n"
    )
    return root


class ServerProcess:
    """`python -m saliency_service` on a free loopback port; a context manager.

    Args:
        repository: the model repository folder.
        *flags: further `saliency-server` flags, e.g. "--grace-period-s", "20".
        env: extra environment variables (SALIENCY_*).
        start_timeout: seconds to wait for the "serving ... on port N" log line.
    """

    def __init__(
        self,
        repository: Path,
        *flags: str,
        env: dict[str, str] | None = None,
        start_timeout: float = 300.0,
    ) -> None:
        command = [
            sys.executable, "-m", "saliency_service", "--repository", str(repository),
            "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", *flags,
        ]
        self.process = subprocess.Popen(
            command,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.log: list[str] = []
        self._port: int | None = None
        self._started = threading.Event()
        # Read the log on a thread for the process's whole life, so a full pipe never blocks it.
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if not self._started.wait(start_timeout) or self._port is None:
            self.process.kill()
            self.process.wait()
            raise RuntimeError("saliency-server did not start:\n" + "".join(self.log[-30:]))
        self.port = self._port
        self.target = f"127.0.0.1:{self.port}"

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                self.log.append(line)
                if self._port is None and (match := LISTENING.search(line)):
                    self._port = int(match.group(1))
                    self._started.set()
        self._started.set()  # the process ended before it served

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_bytes(self) -> int:
        """The server's resident set size now, from /proc/<pid>/status (VmRSS)."""
        return _status_kib(self.pid, "VmRSS") * 1024

    def peak_rss_bytes(self) -> int:
        """The largest resident set size the server has had (VmHWM)."""
        return _status_kib(self.pid, "VmHWM") * 1024

    def terminate(self) -> None:
        """Send SIGTERM, as Kubernetes does when it stops a pod."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit and return its exit code."""
        code = self.process.wait(timeout)
        self._reader.join(timeout=10)
        return code

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")


def unused_port() -> int:
    """A loopback port that nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `predicate()` until it is true or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
