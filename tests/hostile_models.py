"""Model files that would run code when loaded: each one creates a marker folder if it runs.

A `.pt2` archive of a tiny network is made once; the hostile copies change one part of it the
way an attacker would. `torch.export.load` of each hostile copy does create the marker (the
unit tests check it), so "the marker never appears" proves the service ran nothing.
"""

from __future__ import annotations

import functools
import io
import json
import os
import pickle
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from saliency_service.models.shapes_cnn import ShapesCNN

from tests import random_models
from tests.integration.server_process import write_tiny_repository

SIZE = 32
CLASSES = 4


class MakesMarker:
    """Unpickling it creates the folder `path` (os.mkdir): any side effect would do."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return os.mkdir, (self.path,)


@functools.cache
def exported_archive() -> bytes:
    """`torch.export.save` of the demo CNN (random weights, 32 px) with a dynamic batch."""
    torch.manual_seed(0)
    network = ShapesCNN(num_classes=CLASSES).eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(
        network, (torch.rand(2, 3, SIZE, SIZE),), dynamic_shapes=({0: batch},)
    )
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def rewrite(data: bytes, changes: dict[str, bytes | str]) -> bytes:
    """A copy of archive `data` with files (named relative to its root folder) set to new data."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        root = source.namelist()[0].split("/")[0] + "/"
        for name in source.namelist():
            if name.removeprefix(root) not in changes:
                target.writestr(name, source.read(name))
        for name, content in changes.items():
            target.writestr(root + name, content)
    return out.getvalue()


def read(data: bytes, name: str) -> Any:
    """The JSON file `name` (relative to the root folder) of archive `data`."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        root = archive.namelist()[0].split("/")[0] + "/"
        return json.loads(archive.read(root + name))


def with_pickled_weight(data: bytes, marker: Path) -> bytes:
    """The first weight replaced by a pickle that creates `marker` when unpickled."""
    config = read(data, "data/weights/model_weights_config.json")
    entry = next(iter(config["config"].values()))
    entry["use_pickle"] = True
    return rewrite(
        data,
        {
            "data/weights/model_weights_config.json": json.dumps(config),
            "data/weights/" + entry["path_name"]: pickle.dumps(MakesMarker(marker)),
        },
    )


def with_program(data: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """`models/model.json` changed in place by `edit`."""
    program = read(data, "models/model.json")
    edit(program)
    return rewrite(data, {"models/model.json": json.dumps(program)})


def with_evaluated_shape(data: bytes, marker: Path) -> bytes:
    """A symbolic shape whose string, evaluated by sympy at load, creates `marker`."""
    text = json.dumps(read(data, "models/model.json"))
    assert "Symbol('s" in text, "the archive has no symbolic shape to change"
    hostile = text.replace("Symbol('s", f"__import__('os').mkdir('{marker}') or Symbol('s", 1)
    return rewrite(data, {"models/model.json": hostile})


def write_exported_model(repository: Path, name: str, data: bytes) -> Path:
    """A model folder `repository/name` serving the archive `data`; returns the folder."""
    folder = repository / name
    folder.mkdir(parents=True)
    (folder / "model.pt2").write_bytes(data)
    (folder / "model.toml").write_text(
        f'exported_program = "model.pt2"\nnum_classes = {CLASSES}\n'
        f"[input]\nheight = {SIZE}\nwidth = {SIZE}\n"
    )
    return folder


class _WritesOnLoad(torch.nn.Module):
    """A TorchScript module whose `__setstate__` (run by torch.jit.load) writes a file."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.scale = torch.ones(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        means = images.mean(dim=(2, 3))  # (N, 3): one logit per channel, and their sum
        return torch.cat([means, means.sum(dim=1, keepdim=True)], dim=1) * self.scale

    @torch.jit.export
    def __getstate__(self) -> tuple[str, torch.Tensor, bool]:
        return (self.marker, self.scale, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, torch.Tensor, bool]) -> None:
        torch.ops.aten.save(state[1], state[0])
        self.marker = state[0]
        self.scale = state[1]
        self.training = state[2]


def write_torchscript_model(repository: Path, name: str, marker: Path) -> Path:
    """A TorchScript model folder whose file writes `marker` when torch.jit.load reads it."""
    folder = repository / name
    folder.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated; operators still have files
        torch.jit.script(_WritesOnLoad(str(marker))).save(str(folder / "model.ts"))
    (folder / "model.toml").write_text(
        f'torchscript = "model.ts"\nnum_classes = {CLASSES}\n'
        f"[input]\nheight = {SIZE}\nwidth = {SIZE}\n"
    )
    return folder


# The ready model's input size: large enough for a burst of requests to need real memory.
READY_SIZE = 224


def write_mixed_repository(root: Path, markers: Path) -> Path:
    """A repository where "shapes" is ready and every other model fails for the reason its name
    says; the hostile ones would create a marker in `markers` if anything in them ran."""
    repository = write_tiny_repository(root / "repository", size=READY_SIZE)
    archive = exported_archive()
    write_exported_model(repository, "pickled", with_pickled_weight(archive, markers / "a"))
    write_exported_model(repository, "evaluated", with_evaluated_shape(archive, markers / "b"))
    write_torchscript_model(repository, "scripted", markers / "c")
    random_models.write_model(root / "elsewhere", "outside")
    (repository / "linked").symlink_to(root / "elsewhere" / "outside")
    random_models.write_model(repository, "corrupt")
    (repository / "corrupt" / "weights.safetensors").write_bytes(b"\x00" * 64)
    random_models.write_model(repository, "misfit", num_classes=7)
    toml = repository / "misfit" / "model.toml"
    toml.write_text(toml.read_text().replace("num_classes = 7", "num_classes = 3"))
    random_models.write_model(repository, "borrowed")
    (repository / "borrowed" / "weights.safetensors").unlink()
    (repository / "borrowed" / "weights.safetensors").symlink_to(
        repository / "corrupt" / "weights.safetensors"
    )
    return repository
