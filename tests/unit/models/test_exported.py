"""A `.pt2` archive loads only when nothing in it would run; hostile ones are refused, unrun."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from saliency_service.models.config import ModelConfigError
from saliency_service.models.exported import check_archive, load_exported_program

from tests.hostile_models import (
    MakesMarker,
    exported_archive,
    read,
    rewrite,
    with_evaluated_shape,
    with_pickled_weight,
    with_program,
)


def _torch_export_load(data: bytes) -> None:
    with contextlib.suppress(Exception):  # what matters is what ran before any error
        torch.export.load(io.BytesIO(data))


@pytest.mark.parametrize(
    "make", [with_pickled_weight, with_evaluated_shape], ids=["pickled-weight", "sympy-eval"]
)
def test_archives_that_run_code_in_torch_are_refused_and_run_nothing(
    tmp_path: Path, make: Callable[[bytes, Path], bytes]
) -> None:
    # The oracle: torch.export.load itself runs the hostile part (it creates the marker).
    oracle_marker = tmp_path / "oracle"
    _torch_export_load(make(exported_archive(), oracle_marker))
    assert oracle_marker.exists(), "the hostile archive no longer runs code in torch.export.load"

    marker = tmp_path / "marker"
    path = tmp_path / "model.pt2"
    path.write_bytes(make(exported_archive(), marker))
    with pytest.raises(ModelConfigError, match="refused"):
        load_exported_program(path)
    assert not marker.exists()


def _add_node(target: str, *inputs: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(program: dict[str, Any]) -> None:
        node = {"target": target, "inputs": list(inputs), "outputs": [], "metadata": {},
                "is_hop_single_tensor_return": None, "name": "added"}
        program["graph_module"]["graph"]["nodes"].insert(0, node)

    return edit


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(program: dict[str, Any]) -> None:
        program[key] = value

    return edit


def _spec_type(kind: str) -> Callable[[dict[str, Any]], None]:
    def edit(program: dict[str, Any]) -> None:
        signature = program["graph_module"]["module_call_graph"][0]["signature"]
        signature["in_spec"] = signature["in_spec"].replace('"builtins.dict"', json.dumps(kind))

    return edit


def _constant(path_name: str) -> bytes:
    config = {"config": {"c": {"path_name": path_name, "is_param": False, "use_pickle": False,
                               "tensor_meta": None}}}
    return rewrite(
        exported_archive(), {"data/constants/model_constants_config.json": json.dumps(config)}
    )


FILENAME = {"name": "filename", "arg": {"as_string": "/tmp/x"}, "kind": 1}
HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "python-callable": (
        lambda: with_program(exported_archive(), _add_node("torch.os.mkdir", FILENAME)),
        "not an ATen operator",
    ),
    "aten-save": (
        lambda: with_program(exported_archive(), _add_node("torch.ops.aten.save.default")),
        "opens files",
    ),
    "guards-code": (
        lambda: with_program(exported_archive(), _set("guards_code", ["import os"])),
        "guards_code",
    ),
    "defaultdict-spec": (
        lambda: with_program(exported_archive(), _spec_type("collections.defaultdict")),
        "not plain",
    ),
    "aot-inductor": (
        lambda: rewrite(exported_archive(), {"data/aotinductor/model/model.so": b"\x7fELF"}),
        "could run code",
    ),
    "legacy-pickled-weights": (
        lambda: rewrite(exported_archive(), {"data/weights/model.pt": b""}),
        "could run code",
    ),
    "custom-object-constant": (lambda: _constant("custom_obj_0"), "pickled"),
    "sample-inputs": (
        lambda: rewrite(
            exported_archive(),
            {"data/sample_inputs/model.pt": pickle.dumps(MakesMarker(Path("/nonexistent/x")))},
        ),
        "not plain tensors",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_each_way_to_run_code_is_refused(case: str) -> None:
    make, message = HOSTILE[case]
    with pytest.raises(ModelConfigError, match=message):
        check_archive(make())


def test_a_plain_archive_passes_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "model.pt2"
    path.write_bytes(exported_archive())
    network = load_exported_program(path)
    assert network(torch.rand(3, 3, 32, 32)).shape == (3, 4)
    weights = read(exported_archive(), "data/weights/model_weights_config.json")["config"]
    assert not any(entry["use_pickle"] for entry in weights.values())


def test_a_damaged_archive_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "model.pt2"
    path.write_bytes(exported_archive()[:1000])
    with pytest.raises(ModelConfigError, match="not a valid torch.export archive"):
        load_exported_program(path)
