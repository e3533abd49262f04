"""The service against Captum, pytorch-grad-cam and torchattacks, in the same run.

For each model and method it measures images per second four ways:
- peer, 1/call: the library called in-process on one image at a time, as an app that serves
  single-image requests would call it;
- peer, B/call: the library on batches of B images (its best case; Captum's IG gets
  internal_batch_size=32, which it needs to fit in memory; the service needs no such knob);
- service, 8 clients: eight concurrent clients, each sending one image per request;
- service, 1 client: one client sending requests of B images.
and prints the ratios service / peer, then the share of the machine's fp32 GEMM peak that IG and
SmoothGrad reach through the service.

    .venv/bin/python bench/peers.py            # resnet18 and resnet50 (about 10 min, 2 cores)
    .venv/bin/python bench/peers.py --quick    # resnet18, fewer images and steps
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import _harness as h
import numpy as np
import torch
import torchattacks
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from saliency_client import SaliencyClient

Peer = Callable[[torch.Tensor, torch.Tensor], object]


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...]
    images: int  # per measurement, for the one-pass methods
    heavy_images: int  # for SmoothGrad, IG and PGD
    samples: int
    steps: int
    pgd_steps: int
    batch: int = 8
    clients: int = 8


FULL = Settings(
    ("resnet18", "resnet50"), images=16, heavy_images=8, samples=16, steps=16, pgd_steps=10
)
QUICK = Settings(("resnet18",), images=8, heavy_images=8, samples=8, steps=8, pgd_steps=5)


def service_params(method: str, s: Settings) -> dict[str, Any]:
    return {
        "vanilla_gradient": {},
        "smoothgrad": {"samples": s.samples, "noise": 0.15, "seed": 0},
        "integrated_gradients": {"steps": s.steps},
        "grad_cam": {},
        "fgsm": {"eps": 8 / 255},
        "pgd": {"eps": 8 / 255, "alpha": 2 / 255, "steps": s.pgd_steps},
    }[method]


def peers(method: str, model: torch.nn.Module, s: Settings, batched: bool) -> dict[str, Peer]:
    """The in-process peers for `method`, each `peer(images, classes)`."""
    layer = model.network.layer4
    if method == "vanilla_gradient":
        saliency = Saliency(model)
        return {"Captum": lambda x, t: saliency.attribute(x, target=t, abs=True).amax(dim=1)}
    if method == "smoothgrad":
        tunnel = NoiseTunnel(Saliency(model))
        return {
            "Captum": lambda x, t: (
                tunnel.attribute(
                    x, nt_type="smoothgrad", nt_samples=s.samples, stdevs=0.15, target=t
                )
                .abs()
                .mean(1)
            )
        }
    if method == "integrated_gradients":
        ig = IntegratedGradients(model)
        chunk = 32 if batched else None
        return {
            "Captum": lambda x, t: ig.attribute(
                x, target=t, n_steps=s.steps, internal_batch_size=chunk
            ).sum(dim=1)
        }
    if method == "grad_cam":
        captum = LayerGradCam(model, layer)
        cam = GradCAM(model=model, target_layers=[layer])
        return {
            "Captum": lambda x, t: LayerAttribution.interpolate(
                captum.attribute(x, target=t, relu_attributions=True), (h.SIZE, h.SIZE), "bilinear"
            ),
            "pytorch-grad-cam": lambda x, t: cam(
                input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in t]
            ),
        }
    if method == "fgsm":
        fgsm = torchattacks.FGSM(model, eps=8 / 255)
        return {"torchattacks": lambda x, t: fgsm(x, t)}
    pgd = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=s.pgd_steps, random_start=True)
    return {"torchattacks": lambda x, t: pgd(x, t)}


def peer_rate(peer: Peer, pixels: torch.Tensor, classes: torch.Tensor, batch: int) -> float:
    """Images per second calling `peer` on `batch` images at a time (after a warm-up call)."""
    peer(pixels[:batch], classes[:batch])
    started = time.perf_counter()
    for start in range(0, len(pixels), batch):
        peer(pixels[start : start + batch], classes[start : start + batch])
    return len(pixels) / (time.perf_counter() - started)


def call(
    client: SaliencyClient, method: str, model: str, batch: np.ndarray, params: dict[str, Any]
) -> None:
    if method in ("fgsm", "pgd"):
        results: list[Any] = client.attack(list(batch), model=model, method=method, **params)
    else:
        results = client.explain(list(batch), model=model, method=method, **params)
    failed = [r.error for r in results if r.error is not None]
    if failed:
        raise RuntimeError(f"{method} on {model}: {failed[0]}")


def service_rate(
    target: str,
    method: str,
    model: str,
    batch: np.ndarray,
    params: dict[str, Any],
    clients: int,
    per_request: int,
) -> float:
    """Images per second with `clients` concurrent clients, `per_request` images per request.

    One round (each client one request) runs first, untimed: the memory probe and the oneDNN
    primitives for that batch shape are made then, as on a server that has been running.
    """

    def drive(images: np.ndarray) -> float:
        lock = threading.Lock()
        requests = [images[i : i + per_request] for i in range(0, len(images), per_request)]

        def client_loop(_: int) -> None:
            with SaliencyClient(target, timeout=3600) as client:
                while True:
                    with lock:
                        if not requests:
                            return
                        request = requests.pop()
                    call(client, method, model, request, params)

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client_loop, range(clients)))
        return time.perf_counter() - started

    drive(batch[: clients * per_request])
    return len(batch) / drive(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="resnet18 only, fewer images")
    s = QUICK if parser.parse_args().quick else FULL
    h.set_up()
    print(h.machine())
    peak = h.gemm_peak_gflops()
    print(f"fp32 GEMM peak (torch.mm 4096², measured now): {peak:.0f} GFLOP/s")
    methods = ("vanilla_gradient", "smoothgrad", "integrated_gradients", "grad_cam", "fgsm", "pgd")
    heavy = {"smoothgrad", "integrated_gradients", "pgd"}
    rows, flops_rows = [], []
    with h.server(s.models, {"max_batch_size": 32, "max_queue_delay_ms": 5}) as (target, _):
        for name in s.models:
            model = h.classifier(name)
            forward, gradient = h.gradient_row_flops(name)
            for method in methods:
                count = s.heavy_images if method in heavy else s.images
                batch = h.images(count, seed=1)
                pixels = h.as_tensor(batch)
                with torch.no_grad():
                    classes = model(pixels).argmax(dim=1)
                params = service_params(method, s)
                eight = service_rate(target, method, name, batch, params, s.clients, 1)
                one = service_rate(target, method, name, batch, params, 1, s.batch)
                for label, peer in peers(method, model, s, batched=False).items():
                    alone = peer_rate(peer, pixels, classes, 1)
                    batched_peer = peers(method, model, s, batched=True)[label]
                    together = peer_rate(batched_peer, pixels, classes, s.batch)
                    rows.append(
                        [
                            name,
                            method,
                            label,
                            alone,
                            together,
                            eight,
                            one,
                            f"{eight / alone:.2f}x",
                            f"{one / together:.2f}x",
                        ]
                    )
                    print(*rows[-1], sep="\t", flush=True)
                per_image = {
                    "integrated_gradients": s.steps * gradient + 3 * forward,
                    "smoothgrad": s.samples * gradient + forward,
                }.get(method)
                if per_image is not None:
                    for label, rate in (("8 clients", eight), (f"1 client x {s.batch}", one)):
                        achieved = rate * per_image / 1e9
                        flops_rows.append(
                            [name, method, label, rate, achieved, f"{100 * achieved / peak:.0f} %"]
                        )
    header = [
        "model",
        "method",
        "peer",
        "peer 1/call img/s",
        f"peer {s.batch}/call img/s",
        "service 8 clients img/s",
        f"service 1 client x {s.batch} img/s",
        "8 clients / peer 1",
        f"1 client / peer {s.batch}",
    ]
    print(h.table("Service vs in-process peers (higher ratio = service faster)", header, rows))
    print(
        h.table(
            f"Share of the fp32 GEMM peak ({peak:.0f} GFLOP/s) through the service",
            ["model", "method", "load", "img/s", "GFLOP/s", "of peak"],
            flops_rows,
        )
    )


if __name__ == "__main__":
    main()
