"""`saliency-demo`: start the server on the demo repository, explain a few images, write PNGs.

It runs the real thing end to end: `saliency-server` as a child process on a free port, and the
thin client over gRPC, as an app would.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from saliency_client import SaliencyClient, encode_png, save_overlay

from saliency_service.demo.shapes import CLASSES, generate

METHODS = ("vanilla_gradient", "smoothgrad", "integrated_gradients", "grad_cam")
# Pictures show magnitudes: IG's default heatmap is the signed channel sum (it keeps
# completeness), which an overlay renders as a wash around zero. None = the method's default.
DISPLAY_REDUCE = {"integrated_gradients": "abs_mean"}
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


def write_demo(target: str, out: Path, count: int) -> list[Path]:
    """Explain `count` fresh demo images with each method; return the PNGs written."""
    out.mkdir(parents=True, exist_ok=True)
    batch = generate(count, seed=20_261_121)
    written = []
    with SaliencyClient(target) as client:
        for i, image in enumerate(batch.images):
            path = out / f"image{i}_input.png"
            path.write_bytes(encode_png(image))
            written.append(path)
        for method in METHODS:
            results = client.explain(
                list(batch.images),
                model="shapes",
                method=method,
                reduce=DISPLAY_REDUCE.get(method),
            )
            for i, result in enumerate(results):
                result.raise_for_error()
                heatmap = result.explanations[0].heatmap
                path = out / f"image{i}_{method}.png"
                save_overlay(path, np.asarray(batch.images[i]), heatmap)
                written.append(path)
                print(
                    f"{path}: true {CLASSES[batch.labels[i]]}, "  # noqa: T201
                    f"predicted {result.predicted_label}"
                )
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
    print(f"wrote {len(written)} PNGs to {args.out}/")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
