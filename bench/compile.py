"""Does `torch.compile` pay for the service's gradient passes on the CPU?

The passes, on a replica prepared as the service prepares one for pixel-gradient methods
(engine/pool.py: batch norms folded, channels-last weights and input, eval mode, frozen weights):
- vanilla gradient: forward + backward to the input of the predicted class's logit, 8 images;
- IG chunk: the same pass on 16 points of one image's straight path from a black baseline.
Each pass is timed eager (best of N after a warm-up) and through `torch.compile` (inductor):
the first call's wall time (compilation included, with inductor's on-disk caches off, as on a
freshly started server), the steady time per call, the gain eager / compiled, the calls after
which the compiled pass has paid its start-up back, and how far its input gradient is from
eager's (max |difference| / max |eager gradient|).

A second table counts recompilations as the batch size changes, with a counting backend (TorchDynamo
decides when to recompile; the backend only turns a graph into code): `dynamic=False`, automatic
dynamic shapes (`dynamic=None`) and the batch dimension marked dynamic, on raw batch sizes and on
sizes rounded up to 1, 2, 4, 8, 16, 32 (shape bucketing).

    .venv/bin/python bench/compile.py            # resnet18 and resnet50 (about 10 min, 2 cores)
    .venv/bin/python bench/compile.py --quick    # resnet18 only
    .venv/bin/python bench/compile.py --autotune # also mode="max-autotune-no-cudagraphs"
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import _harness as h
import torch
import torch._dynamo
import torch._inductor.config
from saliency_service.engine.folding import fold_batch_norms
from torch import Tensor, nn
from torch._dynamo.testing import CompileCounter

BATCH = 8
PATH_POINTS = 16
RAW_SIZES = (1, 3, 8, 5, 2, 16, 12, 32)
BUCKETS = (1, 2, 4, 8, 16, 32)

Pass = Callable[[], Tensor]


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...]
    repeats: int


FULL = Settings(("resnet18", "resnet50"), repeats=3)
QUICK = Settings(("resnet18",), repeats=3)


def replica(name: str) -> nn.Module:
    """`name` as the service runs pixel-gradient methods on a CPU (engine/pool.py)."""
    model = h.classifier(name).requires_grad_(False)
    fold_batch_norms(model)
    return model.to(memory_format=torch.channels_last)


def gradient(model: nn.Module, leaf: Tensor, targets: Tensor) -> Tensor:
    """`∇_x f_c(x)` per row, as explainers/_autograd.py computes it (`leaf` requires grad)."""
    picked = model(leaf).gather(1, targets[:, None]).sum()
    (result,) = torch.autograd.grad(picked, leaf)
    return result


def passes(model: nn.Module) -> dict[str, tuple[Tensor, Tensor]]:
    """Each pass's leaf inputs (channels-last, as engine/guard.py hands them over) and targets."""
    images = h.as_tensor(h.images(BATCH)).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        targets = model(images).argmax(1)
    alphas = torch.linspace(1 / PATH_POINTS, 1, PATH_POINTS)[:, None, None, None]
    path = (alphas * images[:1]).contiguous(memory_format=torch.channels_last)
    return {
        f"vanilla gradient ({BATCH} images)": (images.requires_grad_(True), targets),
        f"IG chunk ({PATH_POINTS} points)": (
            path.requires_grad_(True),
            targets[:1].expand(PATH_POINTS),
        ),
    }


def compiled_row(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    eager: Tensor,
    eager_s: float,
    repeats: int,
    mode: str | None,
) -> list[object]:
    """Start-up, steady time, gain, break-even calls and gradient error of one compiled pass."""
    torch._dynamo.reset()
    compiled = torch.compile(model, dynamic=False, mode=mode)
    started = time.perf_counter()
    try:
        first = gradient(compiled, images, targets)
    except Exception as error:  # noqa: BLE001 - the report says why it could not compile
        message = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
        print(f"  inductor ({mode or 'default'}) failed: {message}")
        return ["failed", "-", "-", "-", message]
    start_up = time.perf_counter() - started
    steady = h.timed(lambda: gradient(compiled, images, targets), repeats)
    error = float((first - eager).abs().max() / eager.abs().max())
    saved = eager_s - steady
    break_even = f"{(start_up - eager_s) / saved:.0f}" if saved > 0 else "never"
    return [start_up, steady, eager_s / steady, break_even, f"{error:.1e}"]


def speed_rows(name: str, s: Settings, modes: Sequence[str | None]) -> list[list[object]]:
    model = replica(name)
    rows: list[list[object]] = []
    for label, (images, targets) in passes(model).items():
        eager = gradient(model, images, targets)
        eager_s = h.timed(lambda i=images, t=targets: gradient(model, i, t), s.repeats)
        for mode in modes:
            print(f"  {name}, {label}, {mode or 'default'} ...", flush=True)
            row = compiled_row(model, images, targets, eager, eager_s, s.repeats, mode)
            rows.append([name, label, mode or "default", eager_s, *row])
    return rows


def bucket(size: int) -> int:
    """The smallest bucket holding `size` rows (a batch is padded up to it)."""
    return next(b for b in BUCKETS if b >= size)


def compilations(model: nn.Module, sizes: Sequence[int], dynamic: str) -> int:
    """How many graphs TorchDynamo compiles for gradient passes over batches of `sizes`."""
    torch._dynamo.reset()
    counter = CompileCounter()
    # "mark" compiles with dynamic=False too: only the marked dimension is dynamic.
    compiled = torch.compile(model, backend=counter, dynamic=None if dynamic == "None" else False)
    images = h.as_tensor(h.images(max(sizes))).contiguous(memory_format=torch.channels_last)
    targets = torch.zeros(max(sizes), dtype=torch.long)
    for size in sizes:
        batch = images[:size].clone(memory_format=torch.channels_last).requires_grad_(True)
        if dynamic == "mark" and size > 1:
            # Size 1 is always specialised (TorchDynamo's 0/1 specialisation): mark only others.
            # The mark lives on the tensor object, so it is set on the leaf the model receives.
            torch._dynamo.mark_dynamic(batch, 0)
        gradient(compiled, batch, targets[:size])
    return counter.frame_count


def recompile_rows(name: str) -> list[list[object]]:
    model = replica(name)
    rows: list[list[object]] = []
    for sizes in ((1, 3, 8), RAW_SIZES):
        bucketed = tuple(bucket(size) for size in sizes)
        for dynamic in ("False", "None", "mark"):
            print(f"  recompiles {sizes}, dynamic={dynamic} ...", flush=True)
            rows.append(
                [
                    ", ".join(map(str, sizes)),
                    {"False": "False", "None": "None (automatic)", "mark": "mark_dynamic(x, 0)"}[
                        dynamic
                    ],
                    compilations(model, sizes, dynamic),
                    compilations(model, bucketed, dynamic),
                ]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="resnet18 only")
    parser.add_argument(
        "--autotune", action="store_true", help='also mode="max-autotune-no-cudagraphs"'
    )
    args = parser.parse_args()
    s = QUICK if args.quick else FULL
    h.set_up()
    # A fresh server has no compiled artefacts: start-up is measured without inductor's caches.
    torch._inductor.config.force_disable_caches = True
    print(h.machine(), f"- {torch.get_num_threads()} intra-op threads")
    modes: list[str | None] = [None, "max-autotune-no-cudagraphs"] if args.autotune else [None]

    rows = [row for name in s.models for row in speed_rows(name, s, modes)]
    print(
        h.table(
            f"Gradient passes, eager vs torch.compile (inductor), best of {s.repeats}",
            [
                "model",
                "pass",
                "mode",
                "eager s/call",
                "compiled 1st call s",
                "compiled s/call",
                "gain eager/compiled",
                "break-even calls",
                "grad error",
            ],
            rows,
        )
    )
    print(
        h.table(
            "Graphs compiled as the batch size changes (resnet18, counting backend)",
            ["batch sizes", "dynamic", "compiles, raw sizes", "compiles, bucketed to 1..32"],
            recompile_rows("resnet18"),
        )
    )
    print(f"1-min load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
