"""Assess through the service vs Quantus in process: deletion, insertion and max-sensitivity.

The same work both ways, on resnet18 (seeded random weights, 224 px) and 16 images: the
vanilla-gradient map of each image's predicted class; deletion and insertion curves of 48 steps
(deletion to black, insertion into a blur of σ = 5 px); max-sensitivity over 10 uniform draws
of radius 0.02, each re-explained. The service gets one `Assess` call (it batches every forward
pass across images and steps, on ONNX Runtime or torch, whichever it measured faster); Quantus
gets its metrics called on the whole batch (its best case): `PixelFlipping` (deletion),
`PixelFlipping` started from the blur and putting pixels back (insertion, which Quantus lacks),
and `MaxSensitivity` with `quantus.explain` (Captum's saliency) as its explanation function.
Each side's time is the best of two runs, interleaved, after a warm-up run.

    .venv/bin/python bench/assess_vs_quantus.py            # the README's figure (≈ 10 min)
    .venv/bin/python bench/assess_vs_quantus.py --quick    # 4 images, 12 steps, 2 draws

Quantus flips channel values, and needs its step to divide H·W (50176 = 2¹⁰·7²); a step of
3·H·W / steps values is whole pixels, as the service removes them, when steps is 3 times a
divisor of H·W: 48 (its nearest to 50), 24, 12.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import _harness as h
import numpy as np
import quantus
import torch
from saliency_client import SaliencyClient
from saliency_service.images import gaussian_blur

TARGET = 5.0


def service_run(client: SaliencyClient, images: np.ndarray, steps: int, samples: int) -> float:
    started = time.perf_counter()
    client.assess(
        list(images), model="resnet18", methods=["vanilla_gradient"],
        metrics={
            "deletion": {"steps": steps, "replacement": "black"},
            "insertion": {"steps": steps, "replacement": "blur", "blur_sigma": 5.0},
            "max_sensitivity": {"samples": samples, "radius": 0.02},
        },
    )
    return time.perf_counter() - started


def quantus_run(model: torch.nn.Module, batch: torch.Tensor, steps: int, samples: int) -> float:
    started = time.perf_counter()
    x = batch.numpy()
    with torch.no_grad():
        y = model(batch).argmax(dim=1).numpy()
    maps = quantus.explain(model, x, y, method="Saliency", device="cpu")
    step = 3 * x[0, 0].size // steps  # whole pixels: Quantus flips channel values
    common: dict[str, Any] = {"model": model, "y_batch": y, "a_batch": maps, "device": "cpu",
                              "batch_size": len(x)}
    with warnings.catch_warnings(), contextlib.redirect_stdout(None):  # type: ignore[type-var]
        warnings.simplefilter("ignore")
        quantus.PixelFlipping(features_in_step=step, perturb_baseline=0.0,
                              disable_warnings=True)(x_batch=x, **common)
        blurred = gaussian_blur(batch, 5.0).numpy()
        originals = x.reshape(len(x), -1)

        def put_back(arr: np.ndarray, indices: np.ndarray, **_: Any) -> np.ndarray:
            out = arr.copy()
            rows = np.arange(len(arr))[:, None]
            out[rows, indices] = originals[rows, indices]
            return out

        quantus.PixelFlipping(features_in_step=step, perturb_func=put_back,
                              disable_warnings=True)(x_batch=blurred, **common)
        quantus.MaxSensitivity(nr_samples=samples, lower_bound=0.02, normalise=False,
                               disable_warnings=True)(
            x_batch=x, explain_func=quantus.explain,
            explain_func_kwargs={"method": "Saliency"}, **common)
    return time.perf_counter() - started


def best_of(runs: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--steps", type=int, default=48, choices=[12, 24, 48])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.images, args.steps, args.samples = 4, 12, 2
    h.set_up()
    print(h.machine())
    model = h.classifier("resnet18").requires_grad_(False)
    images = h.images(args.images)
    batch = h.as_tensor(images)
    times: dict[str, list[float]] = {"service": [], "Quantus": []}
    with h.server(["resnet18"], {"max_batch_size": 32}) as running, SaliencyClient(
        running.target, timeout=None
    ) as client:
        service_run(client, images, args.steps, args.samples)  # warm-up
        quantus_run(model, batch, args.steps, args.samples)
        for _ in range(2):
            times["service"].append(service_run(client, images, args.steps, args.samples))
            times["Quantus"].append(quantus_run(model, batch, args.steps, args.samples))
            print(f"  service {times['service'][-1]:.1f} s, Quantus {times['Quantus'][-1]:.1f} s"
                  f" (load {os.getloadavg()[0]:.1f})", flush=True)
    service, peer = min(times["service"]), min(times["Quantus"])
    print(h.table(
        f"resnet18, {args.images} images: deletion + insertion ({args.steps} steps) and "
        f"max-sensitivity ({args.samples} draws), vanilla gradient",
        ["service s", "Quantus s", "speed-up", "target"],
        [[service, peer, f"{peer / service:.2f}x", f"≥ {TARGET:g}x"]],
    ))
    print(f"1-min load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
