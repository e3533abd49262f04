"""Resumable checkpoints: tensors as safetensors, everything else as JSON; never a pickle.

A checkpoint is a folder `step-<n>/` holding the model's state (`model.safetensors`), the
optimizer's tensors (`optimizer.safetensors`) and `state.json`: where training stands (epoch,
batches of it done, global step), the history so far, the optimizer's plain numbers, and a
fingerprint of the run's configuration, so that a checkpoint is never resumed by a different
run. It is written beside its final place and renamed into it, so a crash mid-write leaves the
previous checkpoint intact. Data order and random draws depend only on the seed and the step
(data.py, loop.py), so nothing else is needed to resume exactly.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT = 1
KEEP = 2


@dataclass
class TrainingState:
    """Where a run stands: `epoch` (from 1) in progress, its `batch` batches done (with their
    summed loss, correct predictions and images), `step` steps done in all, the finished
    epochs' `history`, and the training seconds spent so far."""

    epoch: int = 1
    batch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0


def save_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    state: TrainingState, fingerprint: dict[str, Any]) -> Path:
    """Write the checkpoint of `state` under `folder`, keeping the last `KEEP`; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{state.step:09d}"
    partial = folder / f".partial-{final.name}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()},
              str(partial / "model.safetensors"))
    tensors, numbers = _split_optimizer(optimizer)
    save_file(tensors, str(partial / "optimizer.safetensors"))
    document = {"format": FORMAT, "fingerprint": fingerprint, "state": asdict(state),
                "optimizer": numbers}
    (partial / "state.json").write_text(json.dumps(document, indent=1, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    for old in sorted(folder.glob("step-*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    fingerprint: dict[str, Any]) -> TrainingState | None:
    """Load the latest checkpoint under `folder` into `model` and `optimizer`; None if none.

    Raises:
        ValueError: the checkpoint belongs to a run with another configuration.
    """
    found = sorted(folder.glob("step-*")) if folder.is_dir() else []
    if not found:
        return None
    latest = found[-1]
    document = json.loads((latest / "state.json").read_text())
    if document.get("format") != FORMAT or document.get("fingerprint") != fingerprint:
        raise ValueError(f"{latest} was written by a run with another configuration; "
                         "use another checkpoint folder, or the same settings")
    device = next(model.parameters()).device
    model.load_state_dict(load_file(str(latest / "model.safetensors"), device=str(device)))
    tensors = load_file(str(latest / "optimizer.safetensors"), device=str(device))
    optimizer.load_state_dict(_join_optimizer(optimizer, tensors, document["optimizer"]))
    return TrainingState(**document["state"])


def _split_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor],
                                                                dict[str, Any]]:
    """The optimizer's per-parameter state as tensors named `<param>.<key>`, and its numbers."""
    tensors: dict[str, torch.Tensor] = {}
    numbers: dict[str, Any] = {}
    for index, values in optimizer.state_dict()["state"].items():
        for key, value in values.items():
            name = f"{index}.{key}"
            if isinstance(value, torch.Tensor):
                tensors[name] = value.detach().contiguous().cpu()
            else:
                numbers[name] = value
    return tensors, numbers


def _join_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                    numbers: dict[str, Any]) -> dict[str, Any]:
    """A state dict for `optimizer`: its own parameter groups (the learning rate is set every
    step from the schedule), the saved per-parameter state."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in (*tensors.items(), *numbers.items()):
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": optimizer.state_dict()["param_groups"]}
