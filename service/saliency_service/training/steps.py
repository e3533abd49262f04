"""One training step of a recipe: the examples it trains on, and its loss.

The examples are made with the model in eval mode (batch norms use their running statistics and
learn nothing from the attack's iterates, as in the TRADES authors' code), the loss in train
mode. With `bfloat16`, forward and backward passes run under autocast; the loss is float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from saliency_service.training.data import Batch
from saliency_service.training.inner import pgd_examples, trades_examples, trades_loss
from saliency_service.training.perturbations import start_point
from saliency_service.training.recipes import Recipe


def precision(device: torch.device, bfloat16: bool) -> AbstractContextManager[object]:
    """Autocast to bfloat16 on `device`, or nothing."""
    if not bfloat16:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@contextmanager
def attacking(model: nn.Module) -> Iterator[None]:
    """Eval mode without weight gradients for the block (an attack needs its inputs' gradients
    alone); the model's mode and flags are restored after."""
    was_training = model.training
    requires = [p.requires_grad for p in model.parameters()]
    model.eval()
    model.requires_grad_(False)
    try:
        yield
    finally:
        model.train(was_training)
        for parameter, required in zip(model.parameters(), requires, strict=True):
            parameter.requires_grad_(required)


def training_examples(model: nn.Module, recipe: Recipe, batch: Batch, epoch: int,
                      generator: torch.Generator, bfloat16: bool = False) -> Tensor:
    """What the recipe trains on for this batch: the clean images, their perturbation, or the
    adversarial examples its attack finds from there (TRADES: the KL maximiser).

    Shape:
        returns (N, C, H, W) in [0, 1], detached.
    """
    images, kind = batch.images, recipe.kind
    with attacking(model):
        start = start_point(recipe, images, batch.saliency, epoch, generator)
        with precision(images.device, bfloat16):
            if kind.inner == "pgd":
                return pgd_examples(model, images, batch.labels, start, recipe.eps,
                                    recipe.step_size, recipe.steps).float()
            if kind.inner == "trades":
                return trades_examples(model, images, start, recipe.eps, recipe.step_size,
                                       recipe.steps).float()
        return start.detach()


def step_loss(model: nn.Module, recipe: Recipe, batch: Batch, examples: Tensor,
              bfloat16: bool = False) -> tuple[Tensor, Tensor]:
    """The loss on `examples` (TRADES: on the clean images and `examples`), and the logits the
    step's accuracy is read from (TRADES: the clean ones), with the model in train mode."""
    model.train()
    with precision(examples.device, bfloat16):
        if recipe.kind.inner == "trades":
            clean = model(batch.images)
            loss = trades_loss(clean.float(), model(examples).float(), batch.labels, recipe.beta)
            return loss, clean.detach()
        logits = model(examples)
        return F.cross_entropy(logits.float(), batch.labels), logits.detach()
