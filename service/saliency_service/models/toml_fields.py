"""Typed reads of a config file's tables, each mistake named by file, key and what is allowed.

Every table has a fixed set of keys: an unknown key is refused (a typo such as `max_batchsize`
would otherwise be ignored silently and the model served with defaults).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class ModelConfigError(ValueError):
    """The model folder's config is missing a key or has a bad value; the message names both."""


def read_toml(folder: Path, path: Path) -> dict[str, Any]:
    """The TOML file `path`, which must lie inside `folder`.

    Raises:
        ModelConfigError: it is not a file inside `folder`, or not TOML.
    """
    try:
        return tomllib.loads(inside(folder, path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ModelConfigError(f"{path}: {error}") from None


def check_keys(table: dict[str, Any], allowed: dict[str, str], where: str) -> None:
    """Refuse keys of `table` that are not in `allowed` (key → what it is, for the message)."""
    for key in table:
        if key not in allowed:
            listed = ", ".join(f"'{k}'" for k in allowed)
            raise ModelConfigError(f"{where}: unknown key {key!r}; allowed: {listed}")


def table(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """The sub-table `[key]` of `raw` (empty when absent)."""
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ModelConfigError(f"{where}: '{key}' must be a table ([{key}])")
    return value


def optional(values: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """`values[key]` checked to be of `kind` (an int is accepted as a float), or None."""
    if key not in values:
        return None
    value = values[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ModelConfigError(f"{where}: '{key}' must be {kind.__name__}, got {value!r}")
    return value


def positive(values: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """`values[key]`, of `kind` and > 0, or None when absent."""
    value = optional(values, key, kind, where)
    if value is not None and value <= 0:
        raise ModelConfigError(f"{where}: '{key}' must be greater than 0, got {value!r}")
    return value


def choice(values: dict[str, Any], key: str, choices: tuple[str, ...], where: str) -> str | None:
    """`values[key]`, one of `choices`, or None when absent."""
    value = optional(values, key, str, where)
    if value is not None and value not in choices:
        allowed = ", ".join(choices)
        raise ModelConfigError(f"{where}: '{key}' must be one of {allowed}; got {value!r}")
    return str(value) if value is not None else None


def numbers(values: dict[str, Any], key: str, where: str) -> tuple[float, ...] | None:
    """`values[key]`, a list of numbers, or None when absent."""
    if key not in values:
        return None
    value = values[key]
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise ModelConfigError(f"{where}: '{key}' must be a list of numbers, got {value!r}")
    return tuple(float(v) for v in value)


def inside(folder: Path, path: Path) -> Path:
    """`path` resolved, if it is a file inside `folder` once links are followed.

    Model files come only from the model's own folder: no absolute paths, no `..` escapes, no
    links to elsewhere.
    """
    resolved = path.resolve()
    if folder.resolve() not in resolved.parents or not resolved.is_file():
        raise ModelConfigError(f"{path.name} is not a file inside {folder}")
    return resolved


def file_key(folder: Path, name: str | None, where: str, key: str) -> Path | None:
    """The file `name` (the value of `key`) inside `folder`, or None when `name` is None."""
    if name is None:
        return None
    try:
        return inside(folder, folder / name)
    except ModelConfigError:
        message = f"{where}: '{key}' = {name!r} is not a file inside {folder}"
        raise ModelConfigError(message) from None
