"""The method × metric table of the demo model, and its figures, through the service.

Every heatmap method of the demo model is assessed by every metric (default settings; the
randomisation test by each of its three similarities) on fresh generated images with their
ground-truth masks, by one `Assess` call per method to a `saliency-server` on the built-in demo
repository. Prints the README's table (means over the images) and writes
`docs/figures/deletion_insertion.png` (mean curves) and `docs/figures/randomisation.png`
(similarity per layer of the cascade). Then checks the deletion replacement: the deletion area
of Grad-CAM's maps against a random map's and an inverted map's, with black and blurred
replacements, computed in this process with the same functions.

    .venv/bin/python bench/assessment.py              # the README's figures (≈ 30 min on 2 cores)
    .venv/bin/python bench/assessment.py --quick      # 4 images, 3 methods (≈ 1 min)
"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from _harness import ROOT, serve  # noqa: E402
from saliency_client import AssessReport, SaliencyClient, SaliencyError  # noqa: E402
from saliency_service.assessment import METRICS  # noqa: E402
from saliency_service.assessment.base import ForwardMetric  # noqa: E402
from saliency_service.assessment.running import forward_metric  # noqa: E402
from saliency_service.config import DEMO_REPOSITORY  # noqa: E402
from saliency_service.demo.shapes import generate  # noqa: E402
from saliency_service.explainers import EXPLAINERS  # noqa: E402
from saliency_service.models.config import read_model_config  # noqa: E402
from saliency_service.models.loading import load_model  # noqa: E402
from saliency_service.params import resolve_params  # noqa: E402

SEED = 96_001
# Not heatmaps of an input (an image), or transformer-only maps the demo CNN cannot give.
SKIP = {"class_model_visualization", "attention", "attention_rollout"}
SIMILARITIES = ("spearman", "ssim", "hog")
CASCADE = ("vanilla_gradient", "grad_cam", "guided_backprop", "integrated_gradients",
           "smoothgrad")
FIGURES = ROOT / "docs" / "figures"


def metrics() -> list[tuple[str, dict[str, Any]]]:
    """Every metric with its defaults; the randomisation test once per similarity."""
    chosen: list[tuple[str, dict[str, Any]]] = []
    for name in METRICS:
        if name == "model_randomisation":
            chosen += [(name, {"similarity": s}) for s in SIMILARITIES]
        else:
            chosen.append((name, {}))
    return chosen


def column(name: str, settings: dict[str, Any]) -> str:
    if name == "model_randomisation":
        return f"randomisation ({settings['similarity']})"
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="4 images, 3 methods")
    args = parser.parse_args()
    count = 4 if args.quick else args.images
    methods = [n for n in EXPLAINERS if n not in SKIP]
    if args.quick:
        methods = ["vanilla_gradient", "grad_cam", "guided_backprop"]
    data = generate(count, seed=SEED)
    print(f"{count} fresh demo images (seed {SEED}); {os.cpu_count()} CPU cores, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    reports: dict[str, AssessReport] = {}
    # The whole assessment of an expensive method (IG's adaptive steps, 64 maps per image)
    # is priced above the default per-request cap.
    flags = ("--max-request-seconds", "1000000")
    with serve(DEMO_REPOSITORY, *flags) as running, SaliencyClient(running.target,
                                                                   timeout=None) as client:
        for method in methods:
            started = time.perf_counter()
            try:
                reports[method] = client.assess(
                    list(data.images), model="shapes", methods=[method], metrics=metrics(),
                    targets=[int(t) for t in data.labels], masks=list(data.masks))
            except SaliencyError as error:
                print(f"{method}: {error.details}")
                continue
            print(f"  {method}: {time.perf_counter() - started:.0f} s "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    print_table(reports)
    FIGURES.mkdir(parents=True, exist_ok=True)
    plot_curves(reports)
    plot_randomisation(reports)
    replacement_check(data)


def print_table(reports: dict[str, AssessReport]) -> None:
    first = next(iter(reports.values())).methods[0]
    heads = [f"{column(r.name, r.settings)} {'↑' if r.higher_is_better else '↓'}"
             for r in first.metrics]
    print("\n| method | " + " | ".join(heads) + " |")
    print("|---" * (len(heads) + 1) + "|")
    for method, report in reports.items():
        cells = [_cell(r.mean) for r in report.methods[0].metrics]
        print(f"| `{method}` | " + " | ".join(cells) + " |")


def _cell(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3g}"


def plot_curves(reports: dict[str, AssessReport]) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, name in zip(axes, ("deletion", "insertion"), strict=True):
        for method, report in reports.items():
            result = report.methods[0].metric(name)
            axis.plot(result.curve_x, result.mean_curve, label=f"{method} ({result.mean:.2f})",
                      linewidth=1.2)
        axis.set_title(f"{name} (area in the legend)")
        axis.set_xlabel("fraction of pixels " + ("removed" if name == "deletion" else
                                                  "inserted"))
    axes[0].set_ylabel("probability of the explained class")
    axes[1].legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(FIGURES / "deletion_insertion.png", dpi=110)
    print(f"wrote {FIGURES / 'deletion_insertion.png'}")


def plot_randomisation(reports: dict[str, AssessReport]) -> None:
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    for axis, similarity in zip(axes, SIMILARITIES, strict=True):
        labels: list[str] = []
        for method in CASCADE:
            if method not in reports:
                continue
            result = [r for r in reports[method].methods[0].metrics
                      if r.name == "model_randomisation"
                      and r.settings["similarity"] == similarity][0]
            labels = result.curve_labels
            axis.plot(range(len(labels)), result.mean_curve, marker="o", markersize=3,
                      label=method)
        axis.set_xticks(range(len(labels)), labels, rotation=60, fontsize=7)
        axis.set_title(f"cascading randomisation: {similarity}")
        axis.set_xlabel("last layer re-initialised (top → down)")
        axis.axhline(0, color="grey", linewidth=0.5)
    axes[0].set_ylabel("similarity with the original map")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(FIGURES / "randomisation.png", dpi=110)
    print(f"wrote {FIGURES / 'randomisation.png'}")


def replacement_check(data: Any) -> None:
    """Deletion areas of Grad-CAM, a random and an inverted map, by replacement (in process)."""
    model = load_model(read_model_config(DEMO_REPOSITORY / "shapes"), torch.device("cpu"))
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255
    targets = torch.from_numpy(data.labels)
    layer = model.classifier.layer(model.default_layer or "")
    grad_cam = EXPLAINERS["grad_cam"].function(model.classifier, images, targets,
                                               layer=layer).heatmap.detach()
    random = torch.rand(grad_cam.shape, generator=torch.Generator().manual_seed(0))
    spec = METRICS["deletion"]
    assert isinstance(spec, ForwardMetric)
    print("\n| deletion replacement | Grad-CAM | random map | inverted Grad-CAM |")
    print("|---|---|---|---|")
    for replacement in ("blur", "black", "mean", "noise"):
        params = resolve_params("deletion", spec.params, {"replacement": replacement})
        areas = [float(forward_metric(spec, model.classifier, images, maps, targets, params,
                                      chunk_size=256).values.mean())
                 for maps in (grad_cam, random, -grad_cam)]
        print(f"| {replacement} | " + " | ".join(f"{a:.3f}" for a in areas) + " |")


if __name__ == "__main__":
    main()
