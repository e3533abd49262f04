"""What the benchmarks share: models, images, a real server in a subprocess, timing, tables.

Every benchmark measures the service and its peers in the same run, on the same random-weight
torchvision models at 224 px, and prints ratios, so figures from different machines (or a busy
one) compare within a row, not across runs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torchvision
from saliency_client import SaliencyClient
from saliency_service.allocator import tune_glibc_malloc
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


@contextlib.contextmanager
def server(
    names: Sequence[str], batching: dict[str, float], env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`saliency-server` in its own process on a repository of `names`; yields (target, process).

    Its own process, so that the client threads of the benchmark never share its GIL, as in
    production. No memory or chunking knob is set.
    """
    with tempfile.TemporaryDirectory() as folder:
        repository = write_repository(Path(folder), names, batching)
        port = _free_port()
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
                "0",
                "--devices",
                "cpu",
                "--log-level",
                "WARNING",
            ],
            env={**os.environ, **(env or {})},
        )
        target = f"127.0.0.1:{port}"
        try:
            _wait_until_serving(target, process)
            yield target, process
        finally:
            process.terminate()
            process.wait(timeout=60)


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


def gemm_peak_gflops(size: int = 4096, repeats: int = 5) -> float:
    """The machine's measured fp32 GEMM rate (torch.mm, all cores), in GFLOP/s."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    seconds = timed(lambda: torch.mm(a, b), repeats)
    return 2 * size**3 / seconds / 1e9


def gradient_row_flops(name: str) -> tuple[float, float]:
    """(forward, forward + backward-to-the-input) FLOPs of one 224-px row, as torch counts them.

    The backward pass computes the input's gradient only (weights frozen), as the service does.
    """
    model = classifier(name).requires_grad_(False)
    image = torch.rand(1, 3, SIZE, SIZE)
    with FlopCounterMode(display=False) as forward, torch.no_grad():
        model(image)
    with FlopCounterMode(display=False) as both:
        leaf = image.requires_grad_(True)
        torch.autograd.grad(model(leaf)[:, 0].sum(), leaf)
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
    return f"{cores} CPU cores, torch {torch.__version__}, 1-min load average {load:.1f} at start"
