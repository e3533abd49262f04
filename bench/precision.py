"""bfloat16 vs float32 through the service, with the maps' fidelity; deterministic mode's cost.

For the demo model (shapes, 64 px) and resnet50 (random weights, 224 px), each method is asked
for the same images with `autocast="off"` and `autocast="bfloat16"` (one client, requests of
8 images), and the table gives both throughputs, their ratio, and how close the bfloat16 maps
are to float32's: the smallest and mean Spearman rank correlation per map (scipy), whether every
image keeps its top-1 class, IG's largest relative completeness gap in each precision (these
compare the answers, which are float32's own where the gate refused), the figures the server's
fidelity gate measured on its first batch (operations/fidelity.py), and what it answered in.
Then the cost of `deterministic=True` under eight concurrent single-image clients (each image
computed alone instead of in one batch).

    .venv/bin/python bench/precision.py            # about 10 min on 2 cores
    .venv/bin/python bench/precision.py --quick    # the demo model only
    .venv/bin/python bench/precision.py --models resnet50 --methods grad_cam,layer_cam

On a CPU that only emulates bfloat16 (no AVX512-BF16 or AMX: the first line says which), the
bfloat16 column measures the emulation, not what the method gains where bf16 is native.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _harness as h
import numpy as np
from saliency_client import SaliencyClient
from saliency_service.config import DEMO_REPOSITORY
from saliency_service.demo.shapes import generate
from scipy.stats import spearmanr

BATCH = 8
METHODS: dict[str, dict[str, Any]] = {
    "vanilla_gradient": {},
    "input_x_gradient": {},
    "guided_backprop": {},
    "smoothgrad": {"samples": 16, "noise": 0.15, "seed": 0},
    "integrated_gradients": {"steps": 32},
    "grad_cam": {},
    "layer_cam": {},
}
DETERMINISTIC = {"vanilla_gradient": {}, "pgd": {"eps": 8 / 255, "steps": 5}}


def explain(client: SaliencyClient, model: str, images: np.ndarray, method: str,
            params: dict[str, Any]) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    results = client.explain(list(images), model=model, method=method, **params)
    elapsed = time.perf_counter() - started
    failed = [r.error for r in results if r.error is not None]
    if failed:
        raise RuntimeError(f"{method} on {model}: {failed[0]}")
    return elapsed, results


def fidelity_row(client: SaliencyClient, model: str, images: np.ndarray, method: str,
                 repeats: int) -> list[object]:
    params = METHODS[method]
    full = {**params, "autocast": "off"}
    half = {**params, "autocast": "bfloat16"}
    # Warm-up: oneDNN primitives for both precisions, and the gate's check on its first batch.
    explain(client, model, images, method, full)
    explain(client, model, images, method, half)
    times = {"off": np.inf, "bfloat16": np.inf}
    answers: dict[str, list[Any]] = {}
    for _ in range(repeats):
        for name, given in (("off", full), ("bfloat16", half)):
            elapsed, answers[name] = explain(client, model, images, method, given)
            times[name] = min(times[name], elapsed)
    rhos = []
    for a, b in zip(answers["off"], answers["bfloat16"], strict=True):
        rho = spearmanr(np.ravel(a.explanations[0].heatmap), np.ravel(b.explanations[0].heatmap))
        rhos.append(float(rho.statistic))
    same_top1 = all(a.predicted_class == b.predicted_class
                    for a, b in zip(answers["off"], answers["bfloat16"], strict=True))
    check = answers["bfloat16"][0].explanations[0].diagnostics
    kept = check.get("reduced_precision", 0.0)
    verdict = (f"{check['precision_check_spearman']:.4f} / "
               f"{'yes' if check['precision_check_same_top1'] else 'NO'} / "
               f"{'yes' if check['precision_check_completeness_kept'] else 'NO'}")

    def gap(name: str) -> str:
        gaps = [r.explanations[0].diagnostics.get("relative_completeness_gap") for r in
                answers[name]]
        return "" if gaps[0] is None else f"{max(gaps):.4f}"

    fp32, bf16 = len(images) / times["off"], len(images) / times["bfloat16"]
    return [model, method, f"{fp32:.2f}", f"{bf16:.2f}", f"{bf16 / fp32:.2f}x",
            f"{min(rhos):.4f}", f"{np.mean(rhos):.4f}", "yes" if same_top1 else "NO",
            gap("off"), gap("bfloat16"), verdict, "bf16" if kept == 1.0 else "fp32 (refused)"]


def deterministic_row(target: str, model: str, images: np.ndarray, method: str) -> list[object]:
    params = DETERMINISTIC[method]

    def one(image: np.ndarray, flag: bool) -> None:
        with SaliencyClient(target, timeout=3600) as client:
            call = client.attack if method == "pgd" else client.explain
            results = call([image], model=model, method=method, deterministic=flag, **params)
            assert results[0].error is None, results[0].error

    rates = {}
    for flag in (False, True, False, True):  # warm-up round, then the timed one
        started = time.perf_counter()
        with ThreadPoolExecutor(len(images)) as clients:
            list(clients.map(lambda image: one(image, flag), images))  # noqa: B023
        rates[flag] = len(images) / (time.perf_counter() - started)
    return [model, method, f"{rates[False]:.2f}", f"{rates[True]:.2f}",
            f"{rates[True] / rates[False]:.2f}x"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the demo model only")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", default="shapes,resnet50",
                        help="comma-separated, of: shapes, resnet50")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated methods of the fidelity table; empty for none")
    args = parser.parse_args()
    chosen = [m for m in args.models.split(",") if m]
    methods = [m for m in args.methods.split(",") if m]
    if args.quick:
        chosen = ["shapes"]
    h.set_up()
    print(h.machine())
    every = {"shapes": lambda: generate(BATCH, seed=5).images,
             "resnet50": lambda: h.images(BATCH, seed=1)}
    models = {name: every[name]() for name in chosen}
    with tempfile.TemporaryDirectory() as folder:
        repository = Path(folder)
        if "resnet50" in models:
            h.write_repository(repository, ["resnet50"],
                               {"max_batch_size": 32, "max_queue_delay_ms": 5})
        shutil.copytree(Path(DEMO_REPOSITORY) / "shapes", repository / "shapes")
        with h.serve(repository, "--devices", "cpu", "--max-request-seconds", "1000000"
                     ) as running, SaliencyClient(running.target, timeout=3600) as client:
            rows = []
            for model, images in models.items():
                for method in methods:
                    rows.append(fidelity_row(client, model, images, method, args.repeats))
                    print(rows[-1], flush=True)
            if rows:
                print(h.table(
                    f"float32 vs bfloat16 autocast, 1 client x {BATCH} images per request",
                    ["model", "method", "fp32 img/s", "bf16 img/s", "bf16 / fp32",
                     "Spearman min", "Spearman mean", "same top-1", "IG gap fp32",
                     "IG gap bf16", "gate's check: Spearman / top-1 / completeness",
                     "answered in"],
                    rows,
                ))
            cost = [deterministic_row(running.target, model, images, method)
                    for model, images in models.items() for method in DETERMINISTIC]
            print(h.table(
                f"deterministic=True, {BATCH} concurrent single-image clients",
                ["model", "method", "default img/s", "deterministic img/s", "ratio"],
                cost,
            ))


if __name__ == "__main__":
    main()
