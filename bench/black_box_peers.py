"""LIME and KernelSHAP through the service against Captum in process; LRP against zennit.

One run measures, on the same machine and images:
- LIME and KernelSHAP (a 7 × 7 grid of segments: SLIC finds one segment in random noise,
  `--samples` samples): the service (its own process,
  one client sending one request of all images; forward passes batched across images and
  samples, on ONNX Runtime where its warm-up found that faster) against Captum's `Lime` and
  `KernelShap` called in process, image by image, with the same segments as feature masks and
  `perturbations_per_eval` = 64;
- LRP (epsilon_plus_flat) in process against zennit's `EpsilonPlusFlat` with its ResNet
  canonizer, on the same batch.
It prints seconds per image and the ratios (the issue's targets: ≥ 3× Captum for LIME and
KernelSHAP, ≥ 1.0× zennit for LRP), and the load average: figures from a loaded machine are not
valid benchmarks.

    .venv/bin/python bench/black_box_peers.py                       # resnet50, 8 images, 1000
    .venv/bin/python bench/black_box_peers.py --model resnet18 --images 2 --samples 64 --size 64
"""

from __future__ import annotations

import argparse
import os
import time

import _harness as h
import numpy as np
import torch
from captum.attr import KernelShap, Lime
from saliency_client import SaliencyClient
from saliency_service.explainers._segments import segment
from saliency_service.explainers.lrp import lrp
from zennit.attribution import Gradient
from zennit.composites import EpsilonPlusFlat
from zennit.torchvision import ResNetCanonizer

SEGMENTS = 49


def _captum(method: str, model: torch.nn.Module, x: torch.Tensor, samples: int) -> float:
    """Seconds for Captum's `method` on every image of `x`, one image per call."""
    labels, _ = segment(x, "grid", segments=SEGMENTS, compactness=10.0, feature_mask=None)
    with torch.no_grad():
        targets = model(x).argmax(dim=1)
    peer = Lime(model) if method == "lime" else KernelShap(model)
    started = time.perf_counter()
    for i in range(len(x)):
        peer.attribute(x[i : i + 1], target=int(targets[i]), n_samples=samples,
                       perturbations_per_eval=64, feature_mask=labels[i][None, None])  # fmt: skip
    return time.perf_counter() - started


def _service(target: str, model: str, method: str, batch: np.ndarray, samples: int) -> float:
    with SaliencyClient(target, timeout=3600) as client:
        grid = {"segmentation": "grid", "segments": SEGMENTS}
        client.explain(list(batch[:1]), model=model, method=method, samples=8, **grid)  # warm
        started = time.perf_counter()
        results = client.explain(
            list(batch), model=model, method=method, samples=samples, **grid
        )
        elapsed = time.perf_counter() - started
    assert all(r.error is None for r in results), [r.error for r in results]
    return elapsed


def _lrp_vs_zennit(name: str, x: torch.Tensor) -> tuple[float, float]:
    model = h.classifier(name)
    with torch.no_grad():
        targets = model(x).argmax(dim=1)
    ours = h.timed(lambda: lrp(model, x, targets, composite="epsilon_plus_flat"))
    network = model.network
    normalised = (x - model.mean) / model.std

    def zennit() -> None:
        with Gradient(network, EpsilonPlusFlat(canonizers=[ResNetCanonizer()])) as attributor:
            logits = network(normalised).detach()
            attributor(normalised, torch.zeros_like(logits).scatter(1, targets[:, None], 1.0))

    return ours, h.timed(zennit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--size", type=int, default=h.SIZE, help="image side (the model's)")
    args = parser.parse_args()
    h.set_up()
    h.SIZE = args.size
    print(h.machine())
    batch = h.images(args.images)
    x = h.as_tensor(batch)
    rows = []
    with h.server([args.model], {"max_batch_size": 32, "max_queue_delay_ms": 5}) as running:
        for method in ("lime", "kernel_shap"):
            service = _service(running.target, args.model, method, batch, args.samples)
            captum = _captum(method, h.classifier(args.model), x, args.samples)
            rows.append([method, service / args.images, captum / args.images, captum / service])
    ours, zennit = _lrp_vs_zennit(args.model, x)
    rows.append(["lrp (in process)", ours / args.images, zennit / args.images, zennit / ours])
    print(h.table(f"{args.model}, {args.images} images of {args.size} px, {args.samples} samples",
                  ["method", "service s/img", "peer s/img", "ratio peer/service"], rows))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
