"""`saliency-demo`: start the server on the demo repository and draw, for a few fresh images,
one figure each: the image beside every explanation method's map.

It runs the real thing end to end: `saliency-server` as a child process on a free port, and the
thin client over gRPC, as an app would (one Explain per method, all the images in it, several
methods in flight at once). The figures need the client's `figures` extra (matplotlib).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from saliency_client import AsyncSaliencyClient
from saliency_client.figures import PanelBox, save_gallery
from saliency_client.gallery import MethodMap, explain_images, explanation_methods

from saliency_service.demo.shapes import CLASSES, generate

LISTENING = re.compile(r"serving \S+ on port (\d+)")


def start_server(timeout: float = 300.0) -> tuple[subprocess.Popen[str], str]:
    """Start `saliency-server` on a free port; return the process and its target."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "saliency_service",
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--metrics-port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    for line in process.stderr:
        if match := LISTENING.search(line):
            return process, f"127.0.0.1:{match.group(1)}"
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("saliency-server did not start; run it alone to see why")


async def _explain_all(target: str, images: list[np.ndarray]) -> dict[str, list[MethodMap]]:
    """Every explanation method's maps of `images`, by method in the server's order."""
    async with AsyncSaliencyClient(target) as client:
        methods = explanation_methods(await client.list_methods())
        found = {answers[0].method: answers async for answers in explain_images(
            client, images, model="shapes", methods=methods)}
    return {method: found[method] for method in methods}


def write_demo(target: str, out: Path, count: int) -> list[tuple[Path, list[PanelBox]]]:
    """Draw one figure per fresh demo image; return each figure's path and panel boxes."""
    out.mkdir(parents=True, exist_ok=True)
    batch = generate(count, seed=20_261_121)
    answers = asyncio.run(_explain_all(target, list(batch.images)))
    written = []
    for i, image in enumerate(batch.images):
        maps = [per_image[i] for per_image in answers.values()]
        result = next((a.result for a in maps if a.result is not None), None)
        predicted = result.predicted_label if result is not None else "?"
        path = out / f"image{i}.png"
        boxes = save_gallery(
            path, image, maps,
            title=f"shapes · demo image {i} · maps of the predicted class",
            input_note=f"true class {CLASSES[batch.labels[i]]}, predicted {predicted}",
        )
        written.append((path, boxes))
        print(f"{path}: true {CLASSES[batch.labels[i]]}, predicted {predicted}, "
              f"{len(boxes) - 1} maps")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="saliency-demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--images", type=int, default=4)
    args = parser.parse_args(argv)
    process, target = start_server()
    try:
        written = write_demo(target, args.out, args.images)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    print(f"wrote {len(written)} figures to {args.out}/")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
