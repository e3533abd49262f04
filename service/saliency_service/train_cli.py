"""`saliency-train`: train or fine-tune a classifier with a robustness recipe and write a model
folder that `saliency-server` loads as is.

    saliency-train --data generated --architecture builtin:shapes_cnn --recipe pgd_sat \\
        --eps 2/255 --epochs 10 --out /models/shapes-pgd-sat
    saliency-train --data /data/flowers --model /models/resnet --recipe trades --out ...

Runs resume from the latest checkpoint under --checkpoints (same settings required).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import torch

from saliency_service.demo.shapes import CLASSES, generate
from saliency_service.models.config import ModelConfigError
from saliency_service.training.data import ArrayImages, LabelledImages, WithSaliency
from saliency_service.training.folder import read_folder
from saliency_service.training.job import BaseModel, fresh_model, repository_model, run_job
from saliency_service.training.loop import TrainSettings
from saliency_service.training.recipes import RECIPES, Recipe
from saliency_service.training.teacher import teacher_methods, teacher_saliency

log = logging.getLogger(__name__)
GENERATED = "generated"
# Validation images of the generated data come from seeds training never uses.
VAL_SEED_OFFSET = 10_000


def budget(text: str) -> float:
    """"2/255" or "0.0078" as a float in [0, 1]."""
    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number or fraction: {text[:40]!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be in [0, 1] (pixel units)")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="saliency-train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help=f"'{GENERATED}' (the project's shapes "
                        "with their masks) or a folder of class sub-folders")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--architecture", help="train from scratch, e.g. builtin:shapes_cnn")
    source.add_argument("--model", type=Path, help="a model folder to fine-tune")
    parser.add_argument("--out", type=Path, required=True, help="the model folder to write")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="standard")
    parser.add_argument("--eps", type=budget, default=Fraction(2, 255), help="L∞ budget (2/255)")
    parser.add_argument("--steps", type=int, default=0, help="attack steps (0: the recipe's)")
    parser.add_argument("--step-size", type=budget, default=0.0, help="0: the recipe's")
    parser.add_argument("--beta", type=float, default=6.0, help="TRADES' β")
    parser.add_argument("--sat-alpha", type=float, default=0.8, help="SAT's α (αᵗ random)")
    parser.add_argument("--teacher", type=Path, help="SAT: a model folder whose saliency maps "
                        "teach (default: the data's masks/boxes as weak saliency)")
    parser.add_argument("--teacher-method", default="smoothgrad", choices=teacher_methods())
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's)")
    parser.add_argument("--workers", type=int, default=0, help="data loading processes")
    parser.add_argument("--checkpoints", type=Path, help="checkpoint folder (resumable)")
    parser.add_argument("--checkpoint-every", type=int, default=0, help="steps (0: epochs)")
    parser.add_argument("--size", type=int, default=64, help="image side (generated data, or "
                        "the architecture's input when training from scratch)")
    parser.add_argument("--generated-count", type=int, default=8000)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    return parser.parse_args(argv)


def load_data(args: argparse.Namespace,
              base_size: tuple[int, int] | None) -> tuple[LabelledImages, LabelledImages]:
    """The training and validation sets the arguments name."""
    if args.data == GENERATED:
        train = generate(args.generated_count, seed=args.seed, size=args.size)
        held = max(1, round(args.generated_count * args.val_fraction))
        val = generate(held, seed=VAL_SEED_OFFSET + args.seed, size=args.size)
        return (ArrayImages(train.images, train.labels, CLASSES, train.masks),
                ArrayImages(val.images, val.labels, CLASSES, val.masks))
    size = base_size or (args.size, args.size)
    return read_folder(Path(args.data), size, val_fraction=args.val_fraction, seed=args.seed)


def main(argv: Sequence[str] | None = None) -> int:
    """Train, write the model folder; the exit status (2: bad arguments or inputs)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        recipe = Recipe(args.recipe, float(args.eps), args.steps, float(args.step_size),
                        args.beta, args.sat_alpha).resolved()
        base_size = _base_size(args.model) if args.model else None
        train_set, val_set = load_data(args, base_size)
        base: BaseModel = (repository_model(args.model) if args.model else
                           fresh_model(args.architecture, train_set, args.size, args.size))
        if args.teacher is not None and recipe.needs_saliency:
            teacher = repository_model(args.teacher).classifier.to(args.device)
            maps = teacher_saliency(teacher, train_set, args.teacher_method)
            train_set = WithSaliency(train_set, maps)
        settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size,
                                 learning_rate=args.lr, seed=args.seed, bfloat16=args.bf16,
                                 workers=args.workers, checkpoint_dir=args.checkpoints,
                                 checkpoint_every=args.checkpoint_every)
        data = args.data if args.teacher is None else f"{args.data} (teacher {args.teacher_method})"
        report = run_job(base, train_set, val_set, recipe, settings, args.out, data=data,
                         device=torch.device(args.device))
    except (ValueError, ModelConfigError, OSError) as error:
        log.error("saliency-train: %s", error)
        return 2
    log.info("wrote %s: %s", args.out, ", ".join(
        f"{key} {value:.4f}" for key, value in report["final"].items()))
    return 0


def _base_size(folder: Path) -> tuple[int, int]:
    from saliency_service.models.config import read_model_config

    config = read_model_config(folder)
    return config.height, config.width


if __name__ == "__main__":
    raise SystemExit(main())
