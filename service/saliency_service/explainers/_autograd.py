"""Target scores and their input gradients, in chunks: the one place explainers call autograd."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def chunks(total: int, chunk_size: int | None) -> list[slice]:
    """Consecutive slices covering `range(total)`, each at most `chunk_size` long.

    Raises:
        ValueError: `chunk_size` is not positive.
    """
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    step = max(total, 1) if chunk_size is None else chunk_size
    return [slice(start, min(start + step, total)) for start in range(0, total, step)]


def target_scores(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    targets: Tensor,
    chunk_size: int | None = None,
) -> Tensor:
    """The logit `f_c(x)` of each row's target class, without building a graph.

    Shape:
        inputs: (N, C, H, W); targets: (N,); returns (N,).
    """
    return pick(logits_of(model, inputs, chunk_size), targets)


def logits_of(
    model: Callable[[Tensor], Tensor], inputs: Tensor, chunk_size: int | None = None
) -> Tensor:
    """The model's logits for every row, without building a graph.

    Shape:
        inputs: (N, C, H, W); returns (N, classes).
    """
    with torch.no_grad():
        return torch.cat([model(inputs[rows]) for rows in chunks(len(inputs), chunk_size)])


def input_gradients(
    model: nn.Module, inputs: Tensor, targets: Tensor, chunk_size: int | None = None
) -> tuple[Tensor, Tensor]:
    """`∇_x f_c(x)` per row, and `f_c(x)`, one backward pass per chunk.

    Shape:
        inputs: (N, C, H, W); targets: (N,); returns ((N, C, H, W), (N,)).
    """
    gradient, logits = gradients_and_logits(model, inputs, targets, chunk_size)
    return gradient, pick(logits, targets)


def gradients_and_logits(
    model: nn.Module, inputs: Tensor, targets: Tensor | None, chunk_size: int | None = None
) -> tuple[Tensor, Tensor]:
    """`∇_x f_c(x)` per row and the row's logits, one forward and backward pass per chunk; c is
    the row's target, or where `targets` is None the class that same forward pass predicts.

    Rows are independent (the model is in eval mode), so the gradient of the summed target
    logits w.r.t. the batch is each row's own gradient. Only the input's gradient is asked of
    autograd, so no weight gradient is computed or accumulated, whatever `requires_grad` the
    parameters have.

    Shape:
        inputs: (N, C, H, W); targets: (N,) or None; returns ((N, C, H, W), (N, classes)).
    """
    gradients, logits = [], []
    with torch.enable_grad():
        for rows in chunks(len(inputs), chunk_size):
            leaf = inputs[rows].detach().requires_grad_(True)
            scores = model(leaf)
            chosen = scores.detach().argmax(dim=1) if targets is None else targets[rows]
            (gradient,) = torch.autograd.grad(pick(scores, chosen).sum(), leaf)
            gradients.append(gradient)
            logits.append(scores.detach())
    return torch.cat(gradients), torch.cat(logits)


def pick(logits: Tensor, targets: Tensor) -> Tensor:
    """Each row's logit of its target class: (N, classes), (N,) -> (N,)."""
    return logits.gather(1, targets[:, None])[:, 0]
