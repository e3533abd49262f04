"""Load a `torch.export.save` archive (`.pt2`) without running anything from it.

`torch.export.load` trusts its file ("Never load data from an untrusted source", its docstring
says). In torch 2.14 an archive is a zip with everything under one root folder:

    archive_format, archive_version, byteorder, .data/version, .data/serialization_id
    models/model.json                      the program: graph, signature, shapes (JSON)
    data/weights/model_weights_config.json one entry per weight: file, dtype, sizes, strides
    data/weights/weight_<i>                raw little-endian bytes of one storage
    data/constants/model_constants_config.json, data/constants/tensor_<i>   the same
    data/sample_inputs/model.pt            the example inputs, a `torch.save` pickle
    extra/<name>                           text
    data/aotinductor/...                   optional compiled native code

What `torch.export.load` would run from such a file, and what `check_archive` does first:

- Pickles. A weight or constant marked `"use_pickle": true`, a `custom_obj_`/`opaque_obj_`
  constant, or a legacy `data/weights/model.pt` is unpickled with `weights_only=False`: refused.
  The sample inputs are unpickled with `weights_only=True`, and on failure again with
  `weights_only=False`; we unpickle them with `weights_only=True` first and refuse the archive
  if that fails, so torch's first try succeeds on the same bytes and its fallback never runs.
- Native code: `data/aotinductor/` holds shared libraries that would be loaded: refused.
- eval: symbolic shapes (`expr_str`) go through `sympy.sympify`, which evaluates its string
  (`__import__('os')...` runs at load, tried): each must parse as an expression of sympy
  constructors, symbols and numbers (an AST allowlist).
- Any callable: a node's `target` is looked up by attribute under `torch`, `math` or `operator`.
  torch's verifier then refuses what is not an operator, but it admits every registered one,
  `aten::save` (writes a file) and `aten::from_file` (reads one) included. Only ATen operators
  pass here, less any with a `filename` argument, plus Python's arithmetic on symbolic sizes.
- Python source: `guards_code` is turned into code by some of torch's paths: refused unless
  empty.
- Imports: pytree specs name their container types, and enum or defaultdict contexts import
  modules by name; only tuple, list, dict and OrderedDict pass.

Every other file name is refused too, so a newer torch's new parts fail closed. The file is read
once: the checks and `torch.export.load` see the same bytes.
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.utils._sympy.functions as symbolic_functions
from torch import nn

from saliency_service.models.config import ModelConfigError

ALLOWED_FILES = re.compile(
    r"archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/model\.json|data/sample_inputs/model\.pt|extra/[^/]+"
    r"|data/weights/model_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/model_constants_config\.json|data/constants/tensor_\d+"
)
PAYLOAD_FILE = re.compile(r"(weight|tensor)_\d+")
ATEN_TARGET = re.compile(r"torch\.ops\.aten\.((?!__)\w+)\.((?!__)\w+)")
SHAPE_ARITHMETIC = frozenset(
    [f"_operator.{name}" for name in ("getitem", "add", "sub", "mul", "floordiv", "truediv",
                                      "mod", "pow", "neg", "pos", "eq", "ne", "lt", "le", "gt",
                                      "ge", "and_", "or_", "lshift", "rshift")]
    + [f"torch.sym_{name}" for name in ("int", "float", "max", "min", "not", "ite", "sqrt")]
    + ["math.trunc"]
)
SPEC_TYPES = frozenset(
    [None, "builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict"]
)
# What a symbolic shape may call: sympy's constructors as `srepr` writes them, and torch's
# integer functions (sympy classes: calling them builds an expression, nothing else).
SYMPY_CALLS = frozenset(
    ["Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Mod", "Max", "Min", "Abs",
     "floor", "ceiling", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "StrictLessThan", "LessThan",
     "StrictGreaterThan", "GreaterThan", "Equality", "Unequality", "And", "Or", "Not"]
    + list(symbolic_functions.__all__)
)
SYMPY_CONSTANTS = frozenset(["oo", "zoo", "nan", "true", "false"])
SYMBOL = re.compile(r"[a-z]+\d+")
EXPRESSION_NODES = (
    ast.Expression, ast.Call, ast.Name, ast.Load, ast.Constant, ast.keyword, ast.BinOp,
    ast.UnaryOp, ast.Compare, ast.BoolOp, ast.operator, ast.unaryop, ast.cmpop, ast.boolop,
)


def load_exported_program(path: Path) -> nn.Module:
    """The program saved in `path`, unflattened (so CAM layer hooks fire), once it passed checks.

    Raises:
        ModelConfigError: the archive holds something that would run, or is not a valid archive.
    """
    data = path.read_bytes()
    try:
        check_archive(data)
    except (zipfile.BadZipFile, json.JSONDecodeError, KeyError) as error:
        message = f"{path.name} is not a valid torch.export archive: {error}"
        raise ModelConfigError(message) from None
    except ModelConfigError as error:
        raise ModelConfigError(f"{path.name} is refused: {error}") from None
    return torch.export.unflatten(torch.export.load(io.BytesIO(data)))


def check_archive(data: bytes) -> None:
    """Refuse an archive from which `torch.export.load` would run anything (module docstring).

    Raises:
        ModelConfigError: what is refused and why.
        zipfile.BadZipFile, json.JSONDecodeError, KeyError: the archive is malformed.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        roots = {name.split("/", 1)[0] for name in names}
        if len(roots) != 1 or any("/" not in name for name in names):
            raise ModelConfigError("the archive must hold one root folder")
        root = roots.pop() + "/"
        for name in names:
            if not ALLOWED_FILES.fullmatch(name.removeprefix(root)):
                name = name.removeprefix(root)
                raise ModelConfigError(f"it holds {name!r}, which could run code")
        for config in ("data/weights/model_weights_config.json",
                       "data/constants/model_constants_config.json"):
            _check_payloads(json.loads(archive.read(root + config)), config)
        _check_sample_inputs(archive.read(root + "data/sample_inputs/model.pt"))
        _check_program(json.loads(archive.read(root + "models/model.json")))


def _check_payloads(config: dict[str, Any], where: str) -> None:
    for name, entry in config["config"].items():
        if entry.get("use_pickle", True) or not PAYLOAD_FILE.fullmatch(entry["path_name"]):
            raise ModelConfigError(f"{name!r} in {where} is pickled; only raw tensors load")


def _check_sample_inputs(data: bytes) -> None:
    try:
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception:  # noqa: BLE001 - whatever the pickle tried, it is refused
        raise ModelConfigError("its sample inputs are not plain tensors") from None


def _check_program(program: dict[str, Any]) -> None:
    if program.get("guards_code"):
        raise ModelConfigError("it holds Python code (guards_code)")
    for key, value in _items(program):
        if key == "target":
            _check_target(value)
        elif key == "expr_str":
            _check_expression(value)
        elif key in ("in_spec", "out_spec") and isinstance(value, str):
            _check_spec(json.loads(value))


def _items(tree: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of the JSON `tree`, at any depth."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield key, value
            yield from _items(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _items(value)


def _check_target(target: object) -> None:
    if target in SHAPE_ARITHMETIC:
        return
    match = ATEN_TARGET.fullmatch(target) if isinstance(target, str) else None
    if match is None:
        raise ModelConfigError(f"node target {str(target)[:80]!r} is not an ATen operator")
    try:
        operator = getattr(getattr(torch.ops.aten, match.group(1)), match.group(2))
    except (AttributeError, RuntimeError):
        raise ModelConfigError(f"node target {target!r} is unknown") from None
    if any(argument.name == "filename" for argument in operator._schema.arguments):
        raise ModelConfigError(f"node target {target!r} opens files")


def _check_expression(text: object) -> None:
    try:
        tree = ast.parse(str(text), mode="eval")
    except SyntaxError:
        tree = None
    if tree is None or not all(_harmless(node) for node in ast.walk(tree)):
        raise ModelConfigError(f"symbolic shape {str(text)[:80]!r} is not plain arithmetic")


def _harmless(node: ast.AST) -> bool:
    if isinstance(node, ast.Call):
        return (
            isinstance(node.func, ast.Name)
            and node.func.id in SYMPY_CALLS
            and all(k.arg is not None and isinstance(k.value, ast.Constant) for k in node.keywords)
        )
    if isinstance(node, ast.Name):
        name = node.id
        return name in SYMPY_CALLS or name in SYMPY_CONSTANTS or bool(SYMBOL.fullmatch(name))
    if isinstance(node, ast.Constant):
        value = node.value
        return isinstance(value, (bool, int, float)) or (
            isinstance(value, str) and bool(SYMBOL.fullmatch(value))
        )
    return isinstance(node, EXPRESSION_NODES)


def _check_spec(spec: Any) -> None:
    # A spec is [version, {"type": ..., "context": "<json>", "children_spec": [...]}].
    for key, value in _items(spec):
        if key == "type" and value not in SPEC_TYPES:
            raise ModelConfigError(f"input/output container {str(value)[:80]!r} is not plain")
        if key == "context" and isinstance(value, str) and "__enum__" in value:
            raise ModelConfigError("an input/output spec names an enum to import")
