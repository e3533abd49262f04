"""Where the time goes under eight single-image clients: vanilla gradient on resnet50.

The server runs in its own process, as in production, with PyTorch's profiler switched on for
the timed window only (a flag file; the profiler records every thread's operators). Eight
client threads each send one image per request. The report gives
- per request, from the server's own histograms: end-to-end time, time queued before its
  batch started, its batch's time on the device, and the rest (decode, encode, gRPC, Python);
- per batch: the mean size, and images per second against the fp32 GEMM peak measured now;
- on the device: the share of the window's wall time the worker thread spent in
  convolution / matrix kernels (oneDNN), in other operators (element-wise, norms, copies,
  casts), and outside any operator (Python, the batcher, waiting for work).

    .venv/bin/python bench/profile_load.py                 # resnet50, 64 images (about 3 min)
    .venv/bin/python bench/profile_load.py --model resnet18
"""

from __future__ import annotations

import argparse
import os
import time

import _harness as h
import numpy as np
import torch
from peers import service_rate
from saliency_service.engine.folding import fold_batch_norms
from saliency_service.explainers import EXPLAINERS
from saliency_service.explainers.gradients import vanilla_gradient

CLIENTS = 8
PROFILED_PASSES = 5
KERNELS = ("conv", "mm", "linear", "mkldnn", "matmul")


def drive(target: str, model: str, method: str, images: np.ndarray) -> float:
    """Images per second from CLIENTS concurrent clients, one image per request."""
    return service_rate(target, method, model, images, {}, CLIENTS, 1, warm_up=False)


def histogram(server: h.Server, name: str, **labels: str) -> tuple[float, float]:
    total = server.metric(f"{name}_sum", **labels) or 0.0
    count = server.metric(f"{name}_count", **labels) or 0.0
    return total, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--method", default="vanilla_gradient")
    args = parser.parse_args()
    h.set_up()
    print(h.machine())
    peak = max(h.gemm_peak_gflops().values())
    row_flops = h.gradient_row_flops(args.model)
    batch = h.images(args.images, seed=1)
    with h.server([args.model], {"max_batch_size": 32, "max_queue_delay_ms": 5}) as server:
        drive(server.target, args.model, args.method, batch[:16])  # warm-up
        labels = {"model": args.model, "method": args.method}
        names = ("saliency_queue_wait_seconds", "saliency_compute_duration_seconds",
                 "saliency_batch_size")
        before = {n: histogram(server, n, **labels) for n in names}
        request_before = histogram(server, "saliency_request_duration_seconds", rpc="Explain",
                                   **labels)
        elapsed = len(batch) / drive(server.target, args.model, args.method, batch)
        after = {n: histogram(server, n, **labels) for n in names}
        request_after = histogram(server, "saliency_request_duration_seconds", rpc="Explain",
                                  **labels)
    size = (after["saliency_batch_size"][0] - before["saliency_batch_size"][0]) / max(
        after["saliency_batch_size"][1] - before["saliency_batch_size"][1], 1)
    passes = {rows: profile_pass(args.model, rows) for rows in sorted({1, max(1, round(size)), 8})}
    report(args, elapsed, peak, row_flops, passes, before, after, request_before, request_after)


def profile_pass(model_name: str, rows: int) -> dict[str, float]:
    """One vanilla-gradient pass of `rows` images as the server runs it (the service's own
    function, channels-last, batch norms folded), under torch.profiler after a warm-up."""
    model = h.classifier(model_name)
    fold_batch_norms(model)
    model = model.to(memory_format=torch.channels_last)
    pixels = h.as_tensor(h.images(rows, seed=2)).to(memory_format=torch.channels_last)
    targets = torch.zeros(rows, dtype=torch.long)
    for _ in range(3):
        vanilla_gradient(model, pixels, targets)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        for _ in range(PROFILED_PASSES):
            vanilla_gradient(model, pixels, targets)
        wall = time.perf_counter() - started
    events = prof.key_averages()
    # Self times of the operators; the top-level ones nest the rest, so only self times add up.
    self_times = {e.key: e.self_cpu_time_total / 1e6 for e in events}
    kernels = sum(t for name, t in self_times.items() if any(k in name for k in KERNELS))
    return {"wall": wall / PROFILED_PASSES, "kernels": kernels / PROFILED_PASSES,
            "operators": sum(self_times.values()) / PROFILED_PASSES}


def report(args: argparse.Namespace, elapsed: float, peak: float, row_flops: tuple[float, float],
           passes: dict[int, dict[str, float]], before: dict[str, tuple[float, float]],
           after: dict[str, tuple[float, float]], request_before: tuple[float, float],
           request_after: tuple[float, float]) -> None:
    def delta(name: str) -> tuple[float, float]:
        return (after[name][0] - before[name][0], after[name][1] - before[name][1])

    # A request costs its gradient pass, and a class-finding forward before it unless the
    # method's own pass finds the class (`predicts`: one map per image, no target named).
    forward, pass_flops = row_flops
    flops = pass_flops + (0.0 if EXPLAINERS[args.method].predicts else forward)
    rate = args.images / elapsed
    request_s, requests = (request_after[0] - request_before[0],
                           request_after[1] - request_before[1])
    queued_s, items = delta("saliency_queue_wait_seconds")
    compute_s, batches = delta("saliency_compute_duration_seconds")
    images_in_batches = delta("saliency_batch_size")[0]
    mean_request = request_s / max(requests, 1)
    mean_queue = queued_s / max(items, 1)
    mean_compute = compute_s / max(batches, 1)
    rest = mean_request - mean_queue - mean_compute
    print(f"{args.method} on {args.model}, {CLIENTS} clients x 1 image, {args.images} images: "
          f"{rate:.2f} img/s, {rate * flops / 1e9:.0f} GFLOP/s = "
          f"{rate * flops / 1e9 / peak:.0%} of the fp32 GEMM peak ({peak:.0f})")
    print(h.table("Per request (server histograms, means)", ["part", "ms", "share"], [
        ["end to end", f"{mean_request * 1e3:.0f}", "100%"],
        ["queued before its batch", f"{mean_queue * 1e3:.0f}", f"{mean_queue / mean_request:.0%}"],
        ["its batch on the device", f"{mean_compute * 1e3:.0f}",
         f"{mean_compute / mean_request:.0%}"],
        ["rest: decode, encode, gRPC, Python", f"{rest * 1e3:.0f}",
         f"{rest / mean_request:.0%}"],
    ]))
    print(f"batches: {batches:.0f}, mean size {images_in_batches / max(batches, 1):.2f}; "
          f"device-seconds in batches / window: {compute_s / elapsed:.2f}")
    rows = []
    for size, p in passes.items():
        wall, kernels, operators = p["wall"], p["kernels"], p["operators"]
        rows.append([size, f"{wall * 1e3:.0f}", f"{size / wall:.1f}",
                     f"{size * pass_flops / wall / 1e9 / peak:.0%}", f"{kernels / wall:.0%}",
                     f"{(operators - kernels) / wall:.0%}", f"{(wall - operators) / wall:.0%}"])
    print(h.table("One pass (forward + backward to the input), torch.profiler",
                  ["images", "ms", "img/s", "of peak", "conv/matrix kernels",
                   "other operators", "outside operators"], rows))
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
