"""Peak memory of Integrated Gradients with 256 steps on 16 images, with no knob set.

The service (its own process, default settings) chunks the 4096 path points to its memory
budget. Captum, called with its defaults, sends all 4096 points through the model at once. Each
runs in its own process under the same address-space cap (RLIMIT_AS, as a container's memory
limit would), so that both face the same limit and an allocation past it fails cleanly instead
of bringing the machine down. Captum with `internal_batch_size` set to what the service chose
is shown too: the knob a Captum user has to find.

    .venv/bin/python bench/ig_memory.py            # resnet50 (about 6 min on 2 cores)
    .venv/bin/python bench/ig_memory.py --quick    # resnet18, 4 images x 64 steps (a check)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import _harness as h
import torch
from captum.attr import IntegratedGradients
from saliency_client import SaliencyClient

GiB = 1 << 30
IMAGES, STEPS = 16, 256
QUICK_IMAGES, QUICK_STEPS = 4, 64
ADDRESS_SPACE = 16 * GiB  # for the service and Captum alike


def service_peak(name: str, images: int, steps: int) -> dict[str, float]:
    """Run the request through a fresh server; its process memory before and at the peak."""
    pictures = list(h.images(images, seed=2))
    with (
        h.server([name], {"max_batch_size": 32}, address_space=ADDRESS_SPACE) as running,
        SaliencyClient(running.target, timeout=3600) as client,
    ):
        # Warm-up: the memory probe and oneDNN's primitives, as on a server that has been up.
        client.explain(pictures[:1], model=name, method="integrated_gradients", steps=2)
        idle = running.memory("VmRSS")
        running.reset_peak_memory()
        started = time.perf_counter()
        results = client.explain(pictures, model=name, method="integrated_gradients", steps=steps)
        seconds = time.perf_counter() - started
        assert all(r.error is None for r in results)
        rows = running.metric("saliency_rows_per_pass", model=name, device="cpu")
        budget = running.metric("saliency_device_memory_bytes", device="cpu", kind="budget")
        return {
            "idle": idle,
            "peak": running.memory("VmHWM"),
            "seconds": seconds,
            "rows": rows or 0,
            "budget": budget or 0,
        }


def captum_child(name: str, internal_batch_size: int | None, images: int, steps: int) -> None:
    """In the child: run Captum's IG once and print its peak memory (or its error) as JSON."""
    h.set_up()
    h.cap_address_space(ADDRESS_SPACE)
    model = h.classifier(name)
    pixels = h.as_tensor(h.images(images, seed=2))
    with torch.no_grad():
        targets = model(pixels).argmax(dim=1)
    status = Path("/proc/self/status")
    idle = _field(status, "VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    try:
        IntegratedGradients(model).attribute(
            pixels, target=targets, n_steps=steps, internal_batch_size=internal_batch_size
        )
        error = ""
    except RuntimeError as failure:
        error = str(failure).splitlines()[0][:90]
    print(
        json.dumps(
            {
                "idle": idle,
                "peak": _field(status, "VmHWM"),
                "error": error,
                "seconds": time.perf_counter() - started,
            }
        )
    )


def _field(status: Path, name: str) -> int:
    line = next(x for x in status.read_text().splitlines() if x.startswith(name + ":"))
    return int(line.split()[1]) * 1024


def captum_peak(
    name: str, internal_batch_size: int | None, images: int, steps: int
) -> dict[str, object]:
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--captum-child",
            name,
            str(internal_batch_size or 0),
            str(images),
            str(steps),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="resnet18, fewer images and steps")
    parser.add_argument("--captum-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.captum_child:
        name, chunk, images, steps = args.captum_child
        captum_child(name, int(chunk) or None, int(images), int(steps))
        return
    h.set_up()
    print(h.machine())
    name = "resnet18" if args.quick else "resnet50"
    images, steps = (QUICK_IMAGES, QUICK_STEPS) if args.quick else (IMAGES, STEPS)
    service = service_peak(name, images, steps)
    rows = int(service["rows"])
    print(f"service: {service}", flush=True)
    default = captum_peak(name, None, images, steps)
    print(f"Captum, defaults: {default}", flush=True)
    # Captum's peak comes from one internal batch, so one image shows it (the 16-image run
    # would take as long as the service's).
    tuned = captum_peak(name, rows, 1, steps)
    print(f"Captum, internal_batch_size={rows}, 1 image: {tuned}", flush=True)
    table = [
        [
            "service (no knob)",
            f"{service['budget'] / GiB:.1f} GiB budget → {rows} rows/pass",
            f"{service['peak'] / GiB:.2f}",
            f"{(service['peak'] - service['idle']) / GiB:.2f}",
            f"done in {service['seconds']:.0f} s",
        ],
        [
            "Captum IG (defaults)",
            "internal_batch_size=None",
            f"{float(default['peak']) / GiB:.2f}",
            f"{(float(default['peak']) - float(default['idle'])) / GiB:.2f}",
            f"failed: {default['error']}" if default["error"] else "done",
        ],
        [
            "Captum IG (1 image)",
            f"internal_batch_size={rows}",
            f"{float(tuned['peak']) / GiB:.2f}",
            f"{(float(tuned['peak']) - float(tuned['idle'])) / GiB:.2f}",
            f"done in {float(tuned['seconds']):.0f} s" if not tuned["error"] else "failed",
        ],
    ]
    print(
        h.table(
            f"IG, {steps} steps x {images} images on {name} at 224 px: process memory "
            f"(each process's address space capped at {ADDRESS_SPACE // GiB} GiB)",
            ["run", "setting", "peak GiB", "over idle GiB", "result"],
            table,
        )
    )


if __name__ == "__main__":
    main()
