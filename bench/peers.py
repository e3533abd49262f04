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
    .venv/bin/python bench/peers.py --models resnet50 --methods vanilla_gradient
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import _harness as h
import numpy as np
import torch
import torchattacks
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from saliency_client import SaliencyClient
from saliency_service.attacks import ATTACKS
from saliency_service.explainers import EXPLAINERS
from saliency_service.params import resolve_params

Peer = Callable[[torch.Tensor], object]


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...]
    images: int  # per measurement, for the one-pass methods
    heavy_images: int  # for methods of more than two passes per image (SmoothGrad, IG, PGD)
    samples: int
    steps: int
    pgd_steps: int
    repeats: int
    batch: int = 8
    clients: int = 8


FULL = Settings(
    ("resnet18", "resnet50"),
    images=32,
    heavy_images=8,
    samples=16,
    steps=16,
    pgd_steps=10,
    repeats=2,
)
QUICK = Settings(
    ("resnet18",), images=16, heavy_images=8, samples=8, steps=8, pgd_steps=5, repeats=1
)


def service_params(method: str, s: Settings) -> dict[str, Any]:
    return {
        "vanilla_gradient": {},
        "smoothgrad": {"samples": s.samples, "noise": 0.15, "seed": 0},
        "integrated_gradients": {"steps": s.steps},
        "grad_cam": {},
        "fgsm": {"eps": 8 / 255},
        "pgd": {"eps": 8 / 255, "alpha": 2 / 255, "steps": s.pgd_steps},
    }[method]


def heavy(method: str, params: dict[str, Any]) -> bool:
    """More than two forward+backward passes per image, by the method's own pricing."""
    if method in ATTACKS:
        attack = ATTACKS[method]
        return attack.passes(resolve_params(method, attack.params, params)) > 2
    spec = EXPLAINERS[method]
    return spec.passes(resolve_params(method, spec.params, params), (3, 224, 224)) > 2


def predicted(model: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """The forward pass an app runs to learn which class to explain or attack."""
    with torch.no_grad():
        return model(pixels).argmax(dim=1)


def peers(method: str, model: torch.nn.Module, s: Settings, batched: bool) -> dict[str, Peer]:
    """The in-process peers for `method`, each `peer(images)`, predicted class included.

    The service finds each image's predicted class (and returns it), so each peer call does so
    too, with one forward pass; attacks also check the adversarial prediction, as the service
    does (it re-checks with ONNX Runtime on top).
    """
    layer = model.network.layer4

    def explained(explain: Callable[[torch.Tensor, torch.Tensor], object]) -> Peer:
        return lambda x: explain(x, predicted(model, x))

    def attacked(attack: torchattacks.Attack) -> Peer:
        return lambda x: predicted(model, attack(x, predicted(model, x)))

    if method == "vanilla_gradient":
        saliency = Saliency(model)
        return {
            "Captum": explained(lambda x, t: saliency.attribute(x, target=t, abs=True).amax(dim=1))
        }
    if method == "smoothgrad":
        tunnel = NoiseTunnel(Saliency(model))
        return {
            "Captum": explained(
                lambda x, t: (
                    tunnel.attribute(
                        x, nt_type="smoothgrad", nt_samples=s.samples, stdevs=0.15, target=t
                    )
                    .abs()
                    .mean(1)
                )
            )
        }
    if method == "integrated_gradients":
        ig = IntegratedGradients(model)
        chunk = 32 if batched else None
        return {
            "Captum": explained(
                lambda x, t: ig.attribute(
                    x, target=t, n_steps=s.steps, internal_batch_size=chunk
                ).sum(dim=1)
            )
        }
    if method == "grad_cam":
        captum = LayerGradCam(model, layer)
        cam = GradCAM(model=model, target_layers=[layer])
        return {
            "Captum": explained(
                lambda x, t: LayerAttribution.interpolate(
                    captum.attribute(x, target=t, relu_attributions=True),
                    (h.SIZE, h.SIZE),
                    "bilinear",
                )
            ),
            "pytorch-grad-cam": explained(
                lambda x, t: cam(
                    input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in t]
                )
            ),
        }
    if method == "fgsm":
        return {"torchattacks": attacked(torchattacks.FGSM(model, eps=8 / 255))}
    return {
        "torchattacks": attacked(
            torchattacks.PGD(
                model, eps=8 / 255, alpha=2 / 255, steps=s.pgd_steps, random_start=True
            )
        )
    }


def peer_rate(peer: Peer, pixels: torch.Tensor, batch: int, warm_up: bool) -> float:
    """Images per second calling `peer` on `batch` images at a time (after a warm-up call)."""
    if warm_up:
        peer(pixels[:batch])
    started = time.perf_counter()
    for start in range(0, len(pixels), batch):
        peer(pixels[start : start + batch])
    return len(pixels) / (time.perf_counter() - started)


def call(
    client: SaliencyClient, method: str, model: str, batch: np.ndarray, params: dict[str, Any]
) -> None:
    if method in ATTACKS:
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
    warm_up: bool,
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

    if warm_up:
        drive(batch[: clients * per_request])
    return len(batch) / drive(batch)


@dataclass
class Cell:
    """One model and method: the service's rates, and each peer's, in images per second."""

    model: str
    method: str
    eight_clients: float = 0.0
    one_client: float = 0.0
    peers: dict[str, tuple[float, float]] = field(default_factory=dict)


def measure(target: str, name: str, method: str, s: Settings) -> Cell:
    """All rates of one cell, each the best of `s.repeats` runs.

    The runs interleave (service, peers, service, peers, ...), so that a burst of load from
    elsewhere on the machine hits both alike; the first run of each also warms it up.
    """
    model = h.classifier(name)
    params = service_params(method, s)
    batch = h.images(s.heavy_images if heavy(method, params) else s.images, seed=1)
    pixels = h.as_tensor(batch)
    alone, together = peers(method, model, s, batched=False), peers(method, model, s, True)
    cell = Cell(name, method)
    for repeat in range(s.repeats):
        first = repeat == 0
        eight = service_rate(target, method, name, batch, params, s.clients, 1, first)
        one = service_rate(target, method, name, batch, params, 1, s.batch, first)
        cell.eight_clients = max(cell.eight_clients, eight)
        cell.one_client = max(cell.one_client, one)
        for label in alone:
            best = cell.peers.get(label, (0.0, 0.0))
            cell.peers[label] = (
                max(best[0], peer_rate(alone[label], pixels, 1, first)),
                max(best[1], peer_rate(together[label], pixels, s.batch, first)),
            )
    return cell


METHODS = ("vanilla_gradient", "smoothgrad", "integrated_gradients", "grad_cam", "fgsm", "pgd")
TARGETS = (
    # (method, peer, least ratio under the 8-client load)
    ("vanilla_gradient", "Captum", 1.5),
    ("grad_cam", "Captum", 1.3),
    ("integrated_gradients", "Captum", 1.2),
    ("smoothgrad", "Captum", 1.2),
    ("grad_cam", "pytorch-grad-cam", 2.5),
    ("pgd", "torchattacks", 1.0),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="resnet18 only, fewer images")
    parser.add_argument("--models", nargs="+", choices=FULL.models, help="default: both")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS)
    args = parser.parse_args()
    s = QUICK if args.quick else FULL
    if args.models:
        s = replace(s, models=tuple(args.models))
    h.set_up()
    print(h.machine())
    gemms = h.gemm_peak_gflops()
    peak = max(gemms.values())
    print(
        "fp32 GEMM, measured now: "
        + ", ".join(f"{name} {rate:.0f} GFLOP/s" for name, rate in gemms.items())
    )
    cells: list[Cell] = []
    with h.server(s.models, {"max_batch_size": 32, "max_queue_delay_ms": 5}) as running:
        target = running.target
        for name in s.models:
            for method in args.methods:
                cells.append(measure(target, name, method, s))
                print(cells[-1], flush=True)
    rows = [
        [
            c.model,
            c.method,
            label,
            alone,
            together,
            c.eight_clients,
            c.one_client,
            f"{c.eight_clients / alone:.2f}x",
            f"{c.one_client / together:.2f}x",
        ]
        for c in cells
        for label, (alone, together) in c.peers.items()
    ]
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
    shares = gemm_shares(cells, s, peak)
    print(
        h.table(
            f"Share of the fp32 GEMM peak ({peak:.0f} GFLOP/s) through the service",
            ["model", "method", "load", "img/s", "GFLOP/s", "of peak"],
            shares,
        )
    )
    print(
        h.table(
            "Targets (8-client load)",
            ["target", "model", "measured", "met"],
            targets(cells, shares),
        )
    )


def gemm_shares(cells: list[Cell], s: Settings, peak: float) -> list[list[object]]:
    """GFLOP/s the service achieves for IG and SmoothGrad, counting the backward pass to the
    input as torch counts it (about one forward), and one forward pass of the image (IG: its
    completeness check's, which also finds the predicted class; SmoothGrad: the class-finding
    one). IG's black baseline is one forward pass per batch, left out."""
    rows: list[list[object]] = []
    for c in cells:
        forward, gradient = h.gradient_row_flops(c.model)
        per_image = {
            "integrated_gradients": s.steps * gradient + forward,
            "smoothgrad": s.samples * gradient + forward,
        }.get(c.method)
        if per_image is None:
            continue
        for load, rate in (("8 clients", c.eight_clients), (f"1 client x {s.batch}", c.one_client)):
            achieved = rate * per_image / 1e9
            rows.append([c.model, c.method, load, rate, achieved, f"{100 * achieved / peak:.0f} %"])
    return rows


def targets(cells: list[Cell], shares: list[list[object]]) -> list[list[object]]:
    rows: list[list[object]] = []
    for method, peer, least in TARGETS:
        for c in cells:
            if c.method == method and peer in c.peers:
                ratio = c.eight_clients / c.peers[peer][0]
                rows.append(
                    [
                        f"{method} vs {peer} >= {least}x",
                        c.model,
                        f"{ratio:.2f}x",
                        "yes" if ratio >= least else "NO",
                    ]
                )
    for model, method, load, *_, share in shares:
        if load == "8 clients":
            value = float(str(share).rstrip(" %"))
            rows.append(
                [f"{method} >= 80 % of GEMM peak", model, share, "yes" if value >= 80 else "NO"]
            )
    return rows


if __name__ == "__main__":
    main()
