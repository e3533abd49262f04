"""The allocator settings: speed of large-batch gradient passes, and memory kept after a burst.

Each setting runs in its own child process (an allocator is chosen at start), which loads
resnet50 (random weights, 224 px, channels-last, as the service runs it), makes one small pass
(lazy initialisation), then a burst of `--passes` forward+backward passes of `--batch` images on
a worker thread (the service computes on its pool's threads, so in a glibc thread arena), then
"goes idle" the way the setting does. Settings, the first being the reference:

- `today`: glibc, mmap threshold 1 GiB, trimming off (what the server did before).
- `default`: glibc as shipped (every tensor over 32 MiB mmap'd and unmapped on each pass).
- `trim-idle`: `today`, plus `malloc_trim(0)` when idle (allocator.release_idle_memory).
- `finite-trim`: mmap threshold 1 GiB, trim threshold 256 MiB, plus `malloc_trim(0)` when idle.
- `jemalloc`: Debian's libjemalloc2 preloaded, dirty pages decaying over 1 s, purged when idle.

Printed per setting: ms per image (median over the burst's passes after its first), the ratio
to `today` (paired round by round, then the median), and RSS at idle, at the peak and after the
idle step. Settings alternate within each round, so load from others hits them alike.

    .venv/bin/python bench/allocator.py        # ≈ 20 min on 2 busy cores
    .venv/bin/python bench/allocator.py --batch 8 --passes 2 --rounds 1   # a quick check
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

JEMALLOC = Path("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
SETTINGS = ("today", "default", "trim-idle", "finite-trim", "jemalloc")
MiB = 1 << 20


def rss_mib(key: str = "VmRSS") -> float:
    """The process's resident set now (VmRSS) or at its peak so far (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key}")


def set_up(setting: str) -> None:
    from saliency_service import allocator

    if setting in ("today", "trim-idle"):
        allocator.tune_glibc_malloc(trim_threshold=allocator.NEVER_TRIM)
    elif setting == "finite-trim":
        allocator.tune_glibc_malloc(trim_threshold=256 * MiB)


def go_idle(setting: str) -> None:
    from saliency_service import allocator

    if setting in ("trim-idle", "finite-trim"):
        allocator.release_idle_memory()
    elif setting == "jemalloc":
        # mallctl("arena.<MALLCTL_ARENAS_ALL>.purge"): hand every arena's unused pages back.
        mallctl = ctypes.CDLL(None).mallctl
        mallctl(b"arena.4096.purge", None, None, None, ctypes.c_size_t(0))


def child(setting: str, batch: int, passes: int) -> dict[str, float]:
    set_up(setting)
    import torch
    import torchvision
    from saliency_service.models.classifier import Classifier

    torch.manual_seed(0)
    network = torchvision.models.resnet50(weights=None)
    model = Classifier(network, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)).eval()
    model.requires_grad_(False)
    model = model.to(memory_format=torch.channels_last)
    worker = ThreadPoolExecutor(1)

    def gradient_pass(count: int) -> float:
        images = torch.rand(count, 3, 224, 224).contiguous(memory_format=torch.channels_last)
        images.requires_grad_(True)
        started = time.perf_counter()
        logits = model(images)
        logits.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
        assert images.grad is not None
        return time.perf_counter() - started

    worker.submit(gradient_pass, 2).result()
    worker.submit(go_idle, setting).result()
    idle = rss_mib()
    seconds = [worker.submit(gradient_pass, batch).result() for _ in range(passes)]
    peak = rss_mib("VmHWM")
    started = time.perf_counter()
    worker.submit(go_idle, setting).result()
    release_ms = (time.perf_counter() - started) * 1000
    time.sleep(1.5)  # jemalloc's background decay, and anything else that returns pages late
    timed = seconds[1:] or seconds
    return {
        "ms_per_image": statistics.median(timed) / batch * 1000,
        "idle_mib": idle,
        "peak_mib": peak,
        "after_mib": rss_mib(),
        "release_ms": release_ms,
    }


def run(setting: str, batch: int, passes: int) -> dict[str, float]:
    env = dict(os.environ)
    if setting == "jemalloc":
        env["LD_PRELOAD"] = str(JEMALLOC)
        env["MALLOC_CONF"] = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"
    command = [sys.executable, __file__, "--child", setting, "--batch", str(batch),
               "--passes", str(passes)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.batch, args.passes)))  # noqa: T201
        return
    settings = [s for s in args.settings.split(",") if s != "jemalloc" or JEMALLOC.exists()]
    print(f"resnet50, {args.batch} images x {args.passes} passes x {args.rounds} rounds; "  # noqa: T201
          f"load average before: {os.getloadavg()}")
    results: dict[str, list[dict[str, float]]] = {s: [] for s in settings}
    for _ in range(args.rounds):
        for setting in settings:
            results[setting].append(run(setting, args.batch, args.passes))
    reference = results[settings[0]]
    print(f"{'setting':12} {'ms/image':>9} {'vs ' + settings[0]:>9} {'idle MiB':>9} "  # noqa: T201
          f"{'peak MiB':>9} {'after MiB':>9} {'after-idle':>10} {'release ms':>10}")
    for setting, rows in results.items():
        pairs = zip(reference, rows, strict=True)
        ratio = statistics.median(ref["ms_per_image"] / row["ms_per_image"] for ref, row in pairs)
        med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        print(f"{setting:12} {med['ms_per_image']:9.1f} {ratio:9.3f} {med['idle_mib']:9.0f} "  # noqa: T201
              f"{med['peak_mib']:9.0f} {med['after_mib']:9.0f} "
              f"{med['after_mib'] - med['idle_mib']:10.0f} {med['release_ms']:10.1f}")
    print(f"ratio > 1: faster than {settings[0]}. load average after: {os.getloadavg()}")  # noqa: T201


if __name__ == "__main__":
    main()
