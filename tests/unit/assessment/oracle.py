"""Calling Quantus like with like: its random draws replaced by ours, its warnings silenced.

Quantus draws perturbations from numpy's global generator; where a metric is random, the tests
hand Quantus the service's own draws (a perturbation function that replays them, or numpy's
`choice` replaced for the call), so both compute the same quantity from the same samples.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

# The parity measure, as in the explainer tests: max |a − b| / max |b|.
TOLERANCE = 1e-4


def max_rel_diff(actual: Tensor | np.ndarray, expected: Tensor | np.ndarray) -> float:
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, f"{a.shape} vs {b.shape}"
    return float(np.abs(a - b).max() / np.abs(b).max())


def run(metric: Any, model: nn.Module, images: Tensor, targets: Tensor, **kwargs: Any) -> Any:
    """`metric(...)` on numpy copies of the batch, quietly (Quantus warns and prints)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(None):  # type: ignore[type-var]
        warnings.simplefilter("ignore")
        return metric(
            model=model,
            x_batch=images.numpy(),
            y_batch=targets.numpy(),
            channel_first=True,
            device="cpu",
            **kwargs,
        )


def replay(draws: Sequence[Tensor]) -> Callable[..., np.ndarray]:
    """A Quantus perturbation function returning `arr + draws[k]` on its k-th call.

    Each draw is (C, H, W), the same for every image, as the service draws it.
    """
    calls = iter(draws)

    def perturb(arr: np.ndarray, **_: Any) -> np.ndarray:
        draw = next(calls).double().numpy().reshape(1, -1)
        return arr + draw

    return perturb


def explainer(explain: Callable[[nn.Module, Tensor, Tensor], Tensor],
              record: list[np.ndarray] | None = None) -> Callable[..., np.ndarray]:
    """A Quantus explain_func calling the service's explainer; optionally records the targets."""

    def explain_func(model: nn.Module, inputs: np.ndarray, targets: np.ndarray,
                     **_: Any) -> np.ndarray:
        if record is not None:
            record.append(np.asarray(targets))
        maps = explain(model, torch.as_tensor(inputs, dtype=torch.float32),
                       torch.as_tensor(targets))
        return maps.detach().numpy()[:, None]

    return explain_func


@contextlib.contextmanager
def numpy_choice_replayed(subsets: Sequence[np.ndarray]) -> Iterator[None]:
    """`np.random.choice` returns `subsets[k]` on its k-th call, for the `with` block."""
    original = np.random.choice
    calls = iter(subsets)
    np.random.choice = lambda *_args, **_kwargs: next(calls)  # type: ignore[assignment]
    try:
        yield
    finally:
        np.random.choice = original

