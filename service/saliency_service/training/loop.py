"""The training loop: epochs of a recipe over a data set, with checkpoints and a progress bar.

AdamW with decoupled weight decay, its learning rate a pure function of the step (a linear
warm-up over the first 15 % of the steps, then a half cosine to zero), so that nothing about
the schedule needs saving. Every random draw of a step (augmentation, noise, SAT's signs, PGD's
starts) comes from a generator seeded with the run's seed and the step, and the batches of an
epoch from its seed and the epoch: a run resumed from any checkpoint computes what the
uninterrupted run computes, bit for bit on the same machine and thread count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from saliency_service.training.checkpoint import TrainingState, load_checkpoint, save_checkpoint
from saliency_service.training.data import Batch, EpochBatches, LabelledImages, batches, flip
from saliency_service.training.evaluation import accuracy, pgd_accuracy
from saliency_service.training.progress import ProgressBar
from saliency_service.training.recipes import Recipe
from saliency_service.training.steps import step_loss, training_examples

WARM_UP = 0.15


@dataclass(frozen=True)
class TrainSettings:
    """How long and how a recipe trains.

    checkpoint_every: steps between checkpoints (0: at the end of every epoch).
    val_limit: validation images measured after every epoch; val_pgd_steps: steps of the PGD
        that measures their robust accuracy at the recipe's ε (0: none).
    """

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    seed: int = 0
    bfloat16: bool = False
    augment: bool = True
    workers: int = 0
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 0
    val_limit: int = 512
    val_pgd_steps: int = 5

    def fingerprint(self, recipe: Recipe, data: str) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by this run (not where it is kept)."""
        own = {k: v for k, v in asdict(self).items()
               if k not in ("checkpoint_dir", "checkpoint_every", "workers")}
        return {"settings": own, "recipe": asdict(recipe), "data": data}


def learning_rate_at(step: int, total: int, peak: float) -> float:
    """Linear warm-up to `peak` over the first 15 % of `total` steps, then a half cosine to 0."""
    warm = max(1, int(WARM_UP * total))
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return peak * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of every random draw of global step `step`."""
    return torch.Generator().manual_seed(seed * 10_000_019 + step)


def train(model: nn.Module, train_set: LabelledImages, val_set: LabelledImages | None,
          recipe: Recipe, settings: TrainSettings, data: str = "",
          progress: ProgressBar | None = None,
          on_step: Callable[[TrainingState], None] | None = None) -> TrainingState:
    """Train `model` (pixels in [0, 1] → logits, on its device) in place; the final state.

    Resumes from the latest checkpoint in `settings.checkpoint_dir` when there is one.
    `data` names the data set in the checkpoints' fingerprint; `on_step` is called after each
    step (tests interrupt a run from it).

    Raises:
        ValueError: the recipe needs saliency maps the data set does not have, or a checkpoint
            of another configuration is in the way.
    """
    recipe = recipe.resolved()
    if recipe.needs_saliency and not train_set.has_saliency:
        raise ValueError(f"recipe {recipe.name!r} needs a saliency map for every training "
                         "image: masks or boxes beside the images, or a teacher")
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    fingerprint = settings.fingerprint(recipe, data)
    folder = settings.checkpoint_dir
    state = (load_checkpoint(folder, model, optimizer, fingerprint) if folder else None)
    state = state or TrainingState()
    per_epoch = -(-len(train_set) // settings.batch_size)
    total = per_epoch * settings.epochs
    bar = progress or ProgressBar(total, state.step)
    while state.epoch <= settings.epochs:
        sampler = EpochBatches(len(train_set), settings.batch_size, settings.seed, state.epoch,
                               first=state.batch)
        for batch in batches(train_set, sampler, settings.workers):
            started = time.monotonic()
            _step(model, optimizer, recipe, settings, batch.to(device), state, total)
            state.seconds += time.monotonic() - started
            bar.update(state.step, f"epoch {state.epoch} loss {state.loss_sum / state.seen:.3f} "
                       f"acc {state.correct / state.seen:.3f}")
            if folder and settings.checkpoint_every and state.step % settings.checkpoint_every == 0:
                save_checkpoint(folder, model, optimizer, state, fingerprint)
            if on_step is not None:
                on_step(state)
        record = {"epoch": float(state.epoch), "loss": state.loss_sum / max(state.seen, 1),
                  "train_accuracy": state.correct / max(state.seen, 1),
                  "learning_rate": learning_rate_at(state.step - 1, total, settings.learning_rate),
                  "seconds": state.seconds, **_validate(model, val_set, recipe, settings)}
        state.history.append(record)
        bar.message(f"epoch {state.epoch}/{settings.epochs}: " + ", ".join(
            f"{key} {value:.4g}" for key, value in record.items() if key != "epoch"))
        state.epoch, state.batch = state.epoch + 1, 0
        state.loss_sum, state.correct, state.seen = 0.0, 0, 0
        if folder:
            save_checkpoint(folder, model, optimizer, state, fingerprint)
    model.eval()
    return state


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, recipe: Recipe,
          settings: TrainSettings, batch: Batch, state: TrainingState, total: int) -> None:
    """One optimiser step on `batch`; `state` counts it."""
    generator = step_generator(settings.seed, state.step)
    if settings.augment:
        batch = flip(batch, generator)
    for group in optimizer.param_groups:
        group["lr"] = learning_rate_at(state.step, total, settings.learning_rate)
    examples = training_examples(model, recipe, batch, state.epoch, generator, settings.bfloat16)
    loss, logits = step_loss(model, recipe, batch, examples, settings.bfloat16)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    state.loss_sum += float(loss.detach()) * len(batch.labels)
    state.correct += int((logits.argmax(dim=1) == batch.labels).sum())
    state.seen += len(batch.labels)
    state.step, state.batch = state.step + 1, state.batch + 1


def _validate(model: nn.Module, val_set: LabelledImages | None, recipe: Recipe,
              settings: TrainSettings) -> dict[str, float]:
    """Validation accuracy, clean and under PGD at the recipe's ε, on a fixed subset."""
    if val_set is None or len(val_set) == 0:
        return {}
    limit = settings.val_limit
    measured = {"val_accuracy": accuracy(model, val_set, limit=limit)}
    if settings.val_pgd_steps and recipe.eps > 0:
        measured["val_robust_accuracy"] = pgd_accuracy(model, val_set, recipe.eps,
                                                       settings.val_pgd_steps, limit=limit)
    return measured
