"""Why the worker pool uses threads: a compute thread against a compute process, same work.

Batches of resnet18 input gradients run (a) on a worker thread of the event loop's process, as
the service does, and (b) in a worker process that holds its own model copy and gets each batch
through a torch.multiprocessing pipe (tensors in shared memory, the cheapest transfer Python
offers). It prints throughput, how late a 1 ms heartbeat on the loop ran while a batch computed
(what every other request on the loop would wait), and the memory the process design adds.

    .venv/bin/python bench/workers.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path

import _harness as h
import torch
import torch.multiprocessing as mp
from saliency_service.explainers._autograd import input_gradients

NAME, BATCH = "resnet18", 8


def gradients(model: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """The work: the predicted class's input gradient for each image."""
    with torch.no_grad():
        targets = model(pixels).argmax(dim=1)
    return input_gradients(model, pixels, targets)[0]


def child(connection: Connection) -> None:
    """The worker process: its own model, batches in and gradients out through the pipe."""
    h.set_up()
    model = h.classifier(NAME).requires_grad_(False)
    connection.send("ready")
    while (pixels := connection.recv()) is not None:
        connection.send(gradients(model, pixels))


async def measure(
    compute: Callable[[torch.Tensor], Awaitable[torch.Tensor]], batches: int, pixels: torch.Tensor
) -> tuple[float, list[float]]:
    """(images per second on an idle loop, heartbeat delays in ms while computing).

    Throughput is timed with nothing else on the loop, as in a server between requests; the
    delays come from a second run with a 1 ms heartbeat, a stress far above a server's load.
    """
    await compute(pixels)  # warm-up
    started = time.perf_counter()
    for _ in range(batches):
        await compute(pixels)
    rate = batches * len(pixels) / (time.perf_counter() - started)
    delays: list[float] = []
    running = True

    async def heartbeat() -> None:
        while running:
            due = time.perf_counter() + 0.001
            await asyncio.sleep(0.001)
            delays.append(1000 * max(0.0, time.perf_counter() - due))

    beat = asyncio.create_task(heartbeat())
    for _ in range(max(2, batches // 2)):
        await compute(pixels)
    running = False
    await beat
    return rate, delays


def resident(pid: int) -> int:
    line = next(
        x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:")
    )
    return int(line.split()[1]) * 1024


async def run(batches: int) -> list[list[object]]:
    pixels = h.as_tensor(h.images(BATCH))
    loop = asyncio.get_running_loop()
    model = h.classifier(NAME).requires_grad_(False)

    async def on_thread(x: torch.Tensor) -> torch.Tensor:
        return await loop.run_in_executor(None, gradients, model, x)

    thread_rate, thread_delays = await measure(on_thread, batches, pixels)

    context = mp.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=child, args=(theirs,), daemon=True)
    process.start()
    assert ours.recv() == "ready"

    def round_trip(x: torch.Tensor) -> torch.Tensor:
        ours.send(x)
        result: torch.Tensor = ours.recv()
        return result

    async def in_process(x: torch.Tensor) -> torch.Tensor:
        return await loop.run_in_executor(None, round_trip, x)

    process_rate, process_delays = await measure(in_process, batches, pixels)
    extra = resident(process.pid)
    ours.send(None)
    process.join(timeout=30)

    def row(label: str, rate: float, delays: list[float], memory: int) -> list[object]:
        cut = statistics.quantiles(delays, n=100)
        return [label, rate, cut[49], cut[98], max(delays), memory / 2**20]

    return [
        row("worker thread (the service)", thread_rate, thread_delays, 0),
        row("worker process + pipe", process_rate, process_delays, extra),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches")
    batches = 4 if parser.parse_args().quick else 12
    h.set_up()
    print(h.machine())
    rows = asyncio.run(run(batches))
    print(
        h.table(
            f"{NAME} input gradients, batches of {BATCH}, event-loop heartbeat every 1 ms",
            ["worker", "img/s", "loop delay p50 ms", "p99 ms", "max ms", "extra memory MiB"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
