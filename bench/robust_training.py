"""The SAT paper's tables reproduced on generated data with masks (issue 11).

Mangla, Singh and Balasubramanian, "On Saliency Maps and Adversarial Robustness", ECML-PKDD
2020 (slides in ../shared/seeds/): table 1 trains nine recipes (Original, + Uniform-Noise, SAT,
PGD, PGD + Uniform-Noise, PGD-SAT, TRADES, TRADES + Uniform-Noise, TRADES-SAT) with the masks as
weak saliency; table 2 trains SAT with saliency maps from a teacher (SmoothGrad, guided
backprop, guided Grad-CAM++, IG; a standard and an adversarially trained teacher). Data: the
project's shapes on clutter (objects with masks, textured backgrounds), drawn at twice --size
and cropped to --size around the object, so the object fills most of the view as in the paper's
data sets while clutter and texture surround it (drawn at --size itself, the clutter is as large
as the objects and a small network learns next to nothing in the time this run has).

Reported per recipe, mean ± std over the seeds: clean accuracy, accuracy under 5-step L∞ PGD at
ε = 1, 2, 3/255 (the paper's protocol), under AutoAttack at 3/255 (table 1 only, on
--autoattack-images images), and training seconds. Writes <out>/robust_training.{md,json,png}.

    python bench/robust_training.py                    # the full run (about 100 min on 2 cores)
    python bench/robust_training.py --quick            # a minutes-long check of the pipeline
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from saliency_service.demo.shapes import CLASSES, generate
from saliency_service.training.data import ArrayImages, LabelledImages, WithSaliency
from saliency_service.training.evaluation import accuracy, autoattack_accuracy, pgd_accuracy
from saliency_service.training.job import BaseModel, fresh_model, run_job
from saliency_service.training.loop import TrainSettings
from saliency_service.training.recipes import Recipe
from saliency_service.training.teacher import GUIDED_GRAD_CAM_PLUS_PLUS, teacher_saliency

ROWS = (("Original", "standard"), ("Original + Uniform-Noise", "noise"), ("SAT", "sat"),
        ("PGD", "pgd"), ("PGD + Uniform-Noise", "pgd_noise"), ("PGD-SAT", "pgd_sat"),
        ("TRADES", "trades"), ("TRADES + Uniform-Noise", "trades_noise"),
        ("TRADES-SAT", "trades_sat"))
TEACHERS = (("S.Grad", "smoothgrad"), ("GBP", "guided_backprop"),
            ("G.G.CAM++", GUIDED_GRAD_CAM_PLUS_PLUS), ("I.Grad", "integrated_gradients"))
EPSILONS = (1 / 255, 2 / 255, 3 / 255)
VAL_SEED = 20_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny setting: checks the pipeline")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--architecture", default="builtin:shapes_cnn")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--autoattack-images", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-eps", type=float, default=3 / 255)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.train_images, args.val_images = args.seeds[:2], 192, 64
        args.autoattack_images, args.epochs = 8, 1
    return args


def shapes(count: int, seed: int, size: int) -> ArrayImages:
    """`count` images of `size` px: drawn at 2·size, cropped around each object's centroid."""
    batch = generate(count, seed=seed, size=2 * size)
    rows, columns = np.mgrid[0 : 2 * size, 0 : 2 * size]
    area = batch.masks.sum(axis=(1, 2))
    centres = np.stack([(batch.masks * rows).sum(axis=(1, 2)) / area,
                        (batch.masks * columns).sum(axis=(1, 2)) / area], axis=1)
    corners = np.clip(np.rint(centres - size / 2).astype(int), 0, size)
    images = np.stack([image[y:y + size, x:x + size]
                       for image, (y, x) in zip(batch.images, corners, strict=True)])
    masks = np.stack([mask[y:y + size, x:x + size]
                      for mask, (y, x) in zip(batch.masks, corners, strict=True)])
    return ArrayImages(images, batch.labels, CLASSES, masks)


def measure(model: torch.nn.Module, val: LabelledImages, args: argparse.Namespace,
            seed: int, autoattack: bool) -> dict[str, float]:
    quick = args.quick
    figures = {"clean": accuracy(model, val)}
    for eps in EPSILONS:
        figures[f"pgd {eps * 255:.0f}/255"] = pgd_accuracy(model, val, eps, seed=seed)
    if not autoattack:
        return figures
    figures["autoattack 3/255"] = autoattack_accuracy(
        model, val, EPSILONS[-1], steps=10 if quick else 100, target_count=3 if quick else 5,
        queries=50 if quick else 1000, limit=args.autoattack_images, seed=seed)
    return figures


def train_one(recipe: str, train: LabelledImages, val: LabelledImages, seed: int,
              args: argparse.Namespace, autoattack: bool = True
              ) -> tuple[BaseModel, dict[str, float]]:
    torch.manual_seed(seed)
    base = fresh_model(args.architecture, train, args.size, args.size)
    settings = TrainSettings(epochs=args.epochs, batch_size=64, seed=seed, val_limit=256,
                             val_pgd_steps=0)
    started = time.monotonic()
    report = run_job(base, train, val, Recipe(recipe, eps=args.train_eps), settings, None,
                     device=torch.device(args.device))
    figures = measure(base.classifier, val, args, seed, autoattack)
    figures["train seconds"] = report["training_seconds"]
    print(f"  {recipe} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
          + f" ({time.monotonic() - started:.0f} s with evaluation)", flush=True)
    return base, figures


def summary(runs: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    return {key: (statistics.mean(r[key] for r in runs),
                  statistics.stdev(r[key] for r in runs) if len(runs) > 1 else 0.0)
            for key in runs[0]}


def table(title: str, rows: dict[str, dict[str, tuple[float, float]]]) -> str:
    columns = list(next(iter(rows.values())))
    lines = [f"### {title}", "", "| method | " + " | ".join(columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for name, cells in rows.items():
        shown = [f"{m:.0f} ± {s:.0f}" if key == "train seconds" else
                 f"{100 * m:.1f} ± {100 * s:.1f}" for key, (m, s) in cells.items()]
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: dict[str, dict[str, tuple[float, float]]], path: Path) -> None:
    """Accuracy (%) against ε for each recipe of table 1 (clean at ε = 0)."""
    width, height, left, top, right, bottom = 720, 420, 50, 20, 520, 380
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((left, top, right, bottom), outline="black")
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
               (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34)]
    for index, (name, cells) in enumerate(rows.items()):
        values = [cells["clean"][0]] + [cells[f"pgd {e * 255:.0f}/255"][0] for e in EPSILONS]
        points = [(left + (right - left) * i / 3, bottom - (bottom - top) * v)
                  for i, v in enumerate(values)]
        draw.line(points, fill=colours[index % 9], width=2)
        draw.text((right + 10, top + 16 * index), name, fill=colours[index % 9])
    for i, label in enumerate(("clean", "1/255", "2/255", "3/255")):
        draw.text((left + (right - left) * i / 3 - 12, bottom + 6), label, fill="black")
    draw.text((4, top), "100%", fill="black")
    draw.text((4, bottom - 10), "0%", fill="black")
    image.save(path)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    print(f"load average {os.getloadavg()}; {args.device}, {args.threads} threads; seeds "
          f"{args.seeds}; {args.train_images} training images at {args.size} px, "
          f"{args.epochs} epochs, training ε {args.train_eps * 255:.1f}/255", flush=True)
    first: dict[str, list[dict[str, float]]] = {name: [] for name, _ in ROWS}
    second: dict[str, list[dict[str, float]]] = {}
    for seed in args.seeds:
        train = shapes(args.train_images, seed, args.size)
        val = shapes(args.val_images, VAL_SEED + seed, args.size)
        teachers: dict[str, BaseModel] = {}
        for name, recipe in ROWS:
            base, figures = train_one(recipe, train, val, seed, args)
            first[name].append(figures)
            if recipe in ("standard", "pgd"):
                teachers["Std." if recipe == "standard" else "Adv."] = base
        for kind, teacher in teachers.items():
            for label, method in TEACHERS:
                maps = teacher_saliency(teacher.classifier, train, method)
                _, figures = train_one("sat", WithSaliency(train, maps), val, seed, args,
                                       autoattack=False)
                second.setdefault(f"SAT — {kind} — {label}", []).append(figures)
    rows1 = {name: summary(runs) for name, runs in first.items()}
    def without_autoattack(name: str) -> dict[str, tuple[float, float]]:
        return {key: cell for key, cell in rows1[name].items() if key != "autoattack 3/255"}

    rows2 = {"Original": without_autoattack("Original"),
             "Original + Uniform-Noise": without_autoattack("Original + Uniform-Noise"),
             "SAT — masks": without_autoattack("SAT"),
             **{name: summary(runs) for name, runs in second.items()}}
    minutes = (time.monotonic() - started) / 60
    setting = (f"seeds {args.seeds}, {args.train_images} training / {args.val_images} "
               f"validation images at {args.size} px, {args.architecture}, {args.epochs} "
               f"epochs, training ε {args.train_eps * 255:.1f}/255, {args.device} "
               f"({args.threads} threads); {minutes:.1f} min; load average {os.getloadavg()}")
    text = (table("Table 1: recipes, masks as weak saliency (accuracy %, mean ± std)", rows1)
            + "\n" + table("Table 2: SAT with a teacher's saliency", rows2) + f"\n{setting}\n")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "robust_training_quick" if args.quick else "robust_training"
    (args.out / f"{stem}.md").write_text(text)
    raw: dict[str, Any] = {"setting": vars(args) | {"out": str(args.out)},
                           "table1": first, "table2": second, "minutes": minutes}
    (args.out / f"{stem}.json").write_text(json.dumps(raw, indent=1))
    plot(rows1, args.out / f"{stem}.png")
    print(text)
    print(f"wrote {args.out / stem}.{{md,json,png}}")


if __name__ == "__main__":
    main()
