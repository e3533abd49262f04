"""Bulk throughput: `saliency bulk explain` on Ray Data against one `saliency-server` fed by a
client with 8 concurrent requests, on the same demo images, in the same run.

    .venv/bin/python bench/bulk.py                 # 1 000 demo images (64 px), ≈ 10 min on 2 cores
    .venv/bin/python bench/bulk.py --images 200    # a quick look

Both sides run the same explainer code (the bulk actors hold the server's engine); the server is
sent each image's PNG bytes, one image per request, 8 requests in flight (as an app would), and
bulk reads the same PNGs from WebDataset shards. Printed per method: images/s of the server
(steady state: it is started and warmed up first); of the whole bulk job (Ray start-up, actor
start-up, every stage, writing); of its model actor alone (images over the actor's busy time,
from Ray Data's stage statistics: what bulk sustains once started, for a data set large
enough that start-up does not count); the seconds until its first shard was written (Ray and
actor start-up); the ratios; and Ray Data's account of where the bulk job's time went.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _harness import machine, server, set_up, table
from saliency_client import SaliencyClient
from saliency_service.bulk import BulkJob, run_bulk
from saliency_service.config import DEMO_REPOSITORY
from saliency_service.demo.datasets import write_dataset

METHODS = ("vanilla_gradient", "grad_cam")
CONCURRENCY = 8


def service_rate(images: list[bytes], method: str) -> float:
    """Images/s of one server under 8 concurrent single-image requests."""
    with server([], {}, repository=DEMO_REPOSITORY) as running, \
            SaliencyClient(running.target, timeout=600) as client:

        def one(image: bytes) -> None:
            (result,) = client.explain(image, model="shapes", method=method)
            result.raise_for_error()

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(one, images[: 4 * CONCURRENCY]))  # warm-up
            started = time.perf_counter()
            list(pool.map(one, images))
            return len(images) / (time.perf_counter() - started)


def bulk_rate(source: Path, output: Path, method: str) -> tuple[float, float, float, str]:
    """Images/s of the whole bulk job and of its model actor, seconds to the first shard, and
    Ray Data's stage statistics."""
    written: list[float] = []
    started = time.monotonic()
    report = run_bulk(
        BulkJob("explain", str(source), output, method=method),
        progress=False,
        on_shard=lambda _name: written.append(time.monotonic()),
    )
    stats = (output / "ray-data-stats.txt").read_text()
    total = report["run_images"] / report["run_seconds"]
    actor = report["run_images"] / _actor_seconds(stats)
    return total, actor, written[0] - started, stats


def _actor_seconds(stats: str) -> float:
    """The model actors' total busy (remote wall) time, from Ray Data's statistics."""
    section = stats[stats.index("MapBatches(ModelWorker)"):]
    value, unit = re.search(r"Remote wall time: .*?, ([\d.]+)(us|ms|s) total", section).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=10)
    args = parser.parse_args()
    set_up()
    print(machine())
    rows, stats = [], []
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "data"
        keys = write_dataset(source, args.images, seed=1, shards=args.shards,
                             data_format="webdataset")
        images = _pngs(source, keys)
        for method in METHODS:
            service = service_rate(images, method)
            total, actor, first, stage_stats = bulk_rate(source, Path(folder) / method, method)
            rows.append([method, service, total, actor, first, total / service, actor / service])
            stats.append(f"--- {method}: Ray Data stages ---\n{stage_stats}")
    print(table(
        f"{args.images} demo images; 1-min load average {os.getloadavg()[0]:.1f} "
        "at the end",
        ["method", "server img/s (8 clients)", "bulk img/s (whole job)", "bulk actor img/s",
         "bulk s to 1st shard", "whole / server", "actor / server"],
        rows,
    ))
    print("\n".join(stats))


def _pngs(source: Path, keys: list[str]) -> list[bytes]:
    import tarfile

    found: dict[str, bytes] = {}
    for path in sorted(source.glob("*.tar")):
        with tarfile.open(path) as tar:
            for member in tar:
                if member.name.endswith(".png"):
                    data = tar.extractfile(member)
                    found[f"{path.stem}/{member.name[:-4]}"] = data.read() if data else b""
    return [found[key] for key in keys]


if __name__ == "__main__":
    main()
