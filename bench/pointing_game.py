"""Pointing game of every heatmap method on the demo model.

For fresh generated images (seeds the training script never uses), does the map's peak fall
inside the object's ground-truth mask? Maps are explained for the true class. Prints a table;
the README's figures come from `python bench/pointing_game.py`.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from saliency_service.config import DEMO_REPOSITORY
from saliency_service.demo.shapes import generate
from saliency_service.errors import SaliencyError
from saliency_service.explainers import EXPLAINERS
from saliency_service.models.config import read_model_config
from saliency_service.models.loading import load_model
from saliency_service.operations.explain_batch import method_arguments
from saliency_service.params import resolve_params

SEED = 95_001


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--methods", nargs="*", default=sorted(EXPLAINERS),
                        help="the methods to score (default: all)")
    args = parser.parse_args()
    model = load_model(read_model_config(DEMO_REPOSITORY / "shapes"), torch.device("cpu"))
    data = generate(args.images, seed=SEED)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255
    labels = torch.from_numpy(data.labels)
    centre = np.zeros((64, 64), bool)
    centre[24:40, 24:40] = True
    print(f"load average {os.getloadavg()}")
    print(f"{args.images} fresh demo images; baseline 'always the image centre': "
          f"{np.mean([m[32, 32] for m in data.masks]):.3f}\n")
    print("| method | pointing game | seconds |\n|---|---|---|")
    for name, spec in EXPLAINERS.items():
        if spec.image or name not in args.methods:  # an image, not a map of the input
            continue
        params = method_arguments(model, spec, resolve_params(name, spec.params, {}))
        started = time.perf_counter()
        hits = 0
        try:
            for start in range(0, args.images, args.batch):
                rows = slice(start, start + args.batch)
                heatmaps = spec.function(model.classifier, images[rows], labels[rows],
                                         **params).heatmap.detach()
                for offset, heatmap in enumerate(heatmaps.numpy()):
                    y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
                    hits += bool(data.masks[start + offset][y, x])
        except SaliencyError as error:
            print(f"| `{name}` | n/a: {error} | |")
            continue
        print(f"| `{name}` | {hits / args.images:.3f} | {time.perf_counter() - started:.1f} |")


if __name__ == "__main__":
    main()
