"""What the benchmarks share: models, images, a real server in a subprocess, timing, tables.

Every benchmark measures the service and its peers in the same run, on the same random-weight
torchvision models at 224 px, and prints ratios, so figures from different machines (or a busy
one) compare within a row, not across runs.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torchvision
from prometheus_client.parser import text_string_to_metric_families
from saliency_client import SaliencyClient
from saliency_service.allocator import tune_glibc_malloc
from saliency_service.engine.precision import native
from saliency_service.models.classifier import Classifier
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def set_up() -> None:
    """The allocator setting the server uses (DESIGN.md), so peers are measured on equal terms."""
    tune_glibc_malloc()
    torch.manual_seed(0)
    # Captum warns on every call that it turned requires_grad on for the input.
    warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require")


def classifier(name: str) -> Classifier:
    """torchvision `name` with seeded random weights, normalisation inside, in eval mode."""
    torch.manual_seed(0)
    network = torchvision.models.get_model(name, weights=None, num_classes=1000)
    return Classifier(network, MEAN, STD).eval()


def images(count: int, seed: int = 0) -> np.ndarray:
    """(count, 224, 224, 3) uint8 images, as a client sends them."""
    return np.random.default_rng(seed).integers(0, 256, (count, SIZE, SIZE, 3), dtype=np.uint8)


def as_tensor(batch: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) to float (N, C, H, W) in [0, 1], as the server decodes them."""
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255).contiguous()


def write_repository(folder: Path, names: Sequence[str], batching: dict[str, float]) -> Path:
    """A model repository with `names` (same weights as `classifier(name)`)."""
    for name in names:
        model_folder = folder / name
        model_folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in classifier(name).network.state_dict().items()}
        safetensors.torch.save_file(state, str(model_folder / "weights.safetensors"))
        lines = [
            f'architecture = "torchvision:{name}"',
            'weights = "weights.safetensors"',
            "num_classes = 1000",
            "[input]",
            f"height = {SIZE}",
            f"width = {SIZE}",
            f"mean = {list(MEAN)}",
            f"std = {list(STD)}",
            "[batching]",
            *(f"{key} = {value}" for key, value in batching.items()),
        ]
        (model_folder / "model.toml").write_text("\n".join(lines) + "\n")
    return folder


@dataclass(frozen=True)
class Server:
    """A running `saliency-server` process: its gRPC target and its /metrics port."""

    target: str
    metrics_port: int
    process: subprocess.Popen[bytes]

    def memory(self, field: str) -> int:
        """A memory figure of the process from /proc (e.g. VmRSS, VmHWM), in bytes."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    def reset_peak_memory(self) -> None:
        """Start VmHWM afresh from the current RSS (Linux: /proc/PID/clear_refs, value 5)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def metric(self, name: str, **labels: str) -> float | None:
        """One sample of the server's /metrics."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return None


@contextlib.contextmanager
def server(
    names: Sequence[str],
    batching: dict[str, float],
    address_space: int | None = None,
    repository: Path | None = None,
) -> Iterator[Server]:
    """`saliency-server` in its own process, serving a repository of `names` (or the given
    `repository` as it is).

    Its own process, so that the benchmark's client threads never share its GIL, as in
    production. No memory or chunking knob is set. `address_space`: see `serve`.
    """
    with tempfile.TemporaryDirectory() as folder:
        if repository is None:
            repository = write_repository(Path(folder), names, batching)
        with serve(repository, "--devices", "cpu", address_space=address_space) as running:
            yield running


@contextlib.contextmanager
def serve(repository: Path, *flags: str, address_space: int | None = None) -> Iterator[Server]:
    """`saliency-server` in its own process on `repository`, with further `flags`.

    `address_space` caps the process's virtual memory (RLIMIT_AS, bytes), as a container's
    limit would.
    """
    port, metrics_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "saliency_service",
            "--repository",
            str(repository),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--metrics-port",
            str(metrics_port),
            "--log-level",
            "ERROR",
            *flags,
        ],
        preexec_fn=None if address_space is None else lambda: cap_address_space(address_space),
    )
    running = Server(f"127.0.0.1:{port}", metrics_port, process)
    try:
        _wait_until_serving(running.target, process)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=60)


def cap_address_space(limit: int) -> None:
    """Cap this process's virtual memory at `limit` bytes: an allocation past it fails."""
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(target: str, process: subprocess.Popen[bytes]) -> None:
    give_up = time.monotonic() + 600
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(Exception), SaliencyClient(target, timeout=2) as client:
            client.list_models()
            return
        time.sleep(1)
    raise RuntimeError("the server did not start in 10 minutes")


def timed(run: Callable[[], object], repeats: int = 1) -> float:
    """Seconds for the fastest of `repeats` runs of `run` (after one untimed warm-up run)."""
    run()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def gemm_peak_gflops(repeats: int = 5) -> dict[str, float]:
    """The machine's measured fp32 GEMM rate, in GFLOP/s, by implementation, on all cores.

    Two GEMMs torch can run: MKL's sgemm (torch.mm, 4096²) and oneDNN's, as a 1x1 convolution
    (M = 64·14·14, K = N = 512, channels-last), which is a plain GEMM. On AMD CPUs MKL stays
    far below oneDNN's JIT kernels, so the peak is the larger of the two.
    """
    a, b = torch.rand(4096, 4096), torch.rand(4096, 4096)
    mkl = 2 * 4096**3 / timed(lambda: torch.mm(a, b), repeats) / 1e9
    layout = torch.channels_last
    x = torch.rand(64, 512, 14, 14).contiguous(memory_format=layout)
    w = torch.rand(512, 512, 1, 1).contiguous(memory_format=layout)
    flops = 2 * 64 * 14 * 14 * 512 * 512
    onednn = flops / timed(lambda: torch.nn.functional.conv2d(x, w), repeats) / 1e9
    return {"MKL sgemm (torch.mm)": mkl, "oneDNN GEMM (1x1 conv)": onednn}


def gradient_row_flops(name: str) -> tuple[float, float]:
    """(forward, forward + backward-to-the-input) FLOPs of one 224-px row, as torch counts them.

    The backward pass computes the input's gradient only (weights frozen), as the service does.
    """
    model = classifier(name).requires_grad_(False)
    image = torch.rand(1, 3, SIZE, SIZE)
    with FlopCounterMode(display=False) as forward, torch.no_grad():
        model(image)
    with FlopCounterMode(display=False) as both:
        # backward(), not autograd.grad(): FlopCounterMode's hooks refuse a leaf input there.
        model(image.requires_grad_(True))[:, 0].sum().backward()
    return float(forward.get_total_flops()), float(both.get_total_flops())


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table (also valid Markdown)."""
    cells = [[str(c) for c in header], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return f"\n{title}\n\n" + "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    return str(value)


def machine() -> str:
    """One line saying where the figures come from."""
    cores = os.cpu_count()
    load = os.getloadavg()[0]
    isa = torch.backends.cpu.get_cpu_capability()
    bf16 = "native" if native(torch.device("cpu"), torch.bfloat16) else "emulated"
    return (f"{cores} CPU cores ({isa}, bf16 {bf16}), torch {torch.__version__}, "
            f"1-min load average {load:.1f} at start")
