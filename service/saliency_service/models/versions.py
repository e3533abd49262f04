"""What a repository folder holds now: its models, their versions, and a fingerprint of each.

A model folder is either one model (its `model.toml`, or a Hugging Face / ONNX folder), version
"", or a folder of versions: sub-folders named by positive integers (`resnet/1/`, `resnet/2/`),
each a complete model folder, and optionally `versions.toml`:

    policy = "latest"     # "latest" (default), "all" or "specific"
    latest = 1            # how many of the newest versions "latest" serves
    versions = [1, 3]     # the versions "specific" serves
    default = 3           # the version requests that name none get (default: the newest served)

A fingerprint (the names, sizes and modification times of a version's files) tells whether a
version changed since it was loaded, so a poll of the repository costs a directory walk.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from saliency_service.models.config import is_model_folder
from saliency_service.models.toml_fields import (
    ModelConfigError,
    check_keys,
    choice,
    optional,
    positive,
    read_toml,
)

VERSIONS_FILE = "versions.toml"
POLICIES = ("latest", "all", "specific")
POLICY_KEYS = {
    "policy": "latest, all or specific",
    "latest": "how many of the newest versions 'latest' serves",
    "versions": "the versions 'specific' serves",
    "default": "the version requests without one get",
}
# A version folder with more files than this is not walked further (its fingerprint then covers
# the first ones): model folders hold a handful.
MAX_FILES = 10_000


@dataclass(frozen=True)
class VersionFolder:
    """One version of one model: where its files are, and their fingerprint."""

    model: str
    version: str
    folder: Path
    fingerprint: str


@dataclass
class ModelFolder:
    """A model folder: the versions its policy serves (by version) and its default, or why it
    cannot be read (`error`)."""

    model: str
    versions: dict[str, VersionFolder] = field(default_factory=dict)
    default: str = ""
    error: str = ""


def scan(root: Path) -> dict[str, ModelFolder]:
    """Every model folder of the repository `root`, by folder name."""
    found: dict[str, ModelFolder] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if is_model_folder(sub):
            found[sub.name] = ModelFolder(
                sub.name, {"": VersionFolder(sub.name, "", sub, fingerprint(sub))}
            )
            continue
        numbered = sorted(
            (p for p in sub.iterdir() if p.is_dir() and p.name.isdigit() and int(p.name) > 0),
            key=lambda p: int(p.name),
        )
        if numbered or (sub / VERSIONS_FILE).exists():
            found[sub.name] = _versioned(sub, numbered)
    return found


def _versioned(folder: Path, numbered: list[Path]) -> ModelFolder:
    model = ModelFolder(folder.name)
    try:
        chosen, default = _policy(folder, [int(p.name) for p in numbered])
    except ModelConfigError as error:
        model.error = str(error)
        return model
    for path in numbered:
        if int(path.name) in chosen:
            version = path.name
            model.versions[version] = VersionFolder(folder.name, version, path, fingerprint(path))
    model.default = str(default) if default is not None else ""
    if not model.versions:
        model.error = "no version folder (1/, 2/, ...) is selected by its policy"
    return model


def _policy(folder: Path, available: list[int]) -> tuple[set[int], int | None]:
    """The versions served and the default, by `versions.toml` (latest 1 when there is none)."""
    path = folder / VERSIONS_FILE
    raw = read_toml(folder, path) if path.exists() else {}
    where = str(path)
    check_keys(raw, POLICY_KEYS, where)
    policy = choice(raw, "policy", POLICIES, where) or "latest"
    latest = positive(raw, "latest", int, where) or 1
    listed = optional(raw, "versions", list, where)
    if policy == "specific":
        if not listed or not all(isinstance(v, int) and v > 0 for v in listed):
            raise ModelConfigError(
                f"{where}: policy 'specific' needs 'versions', a list of version numbers"
            )
        chosen = set(listed) & set(available)
    elif policy == "all":
        chosen = set(available)
    else:
        chosen = set(sorted(available)[-latest:])
    default = positive(raw, "default", int, where)
    if default is not None and default not in chosen:
        raise ModelConfigError(f"{where}: 'default' = {default} is not a served version")
    return chosen, default if default is not None else max(chosen, default=None)


def fingerprint(folder: Path) -> str:
    """A digest of the names, sizes and modification times of the files under `folder`."""
    digest = hashlib.blake2b(digest_size=8)
    count = 0
    for directory, subdirectories, files in os.walk(folder, followlinks=False):
        subdirectories.sort()
        for name in sorted(files):
            path = Path(directory, name)
            try:
                stat = path.stat()  # follows a link: its target's changes count
            except OSError:
                continue
            relative = path.relative_to(folder)
            digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            count += 1
            if count >= MAX_FILES:
                return digest.hexdigest()
    return digest.hexdigest()
