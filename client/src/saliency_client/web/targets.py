"""The servers the page can talk to ("targets"), each with its own address, TLS and token.

Given on the command line (`--target NAME=ADDRESS`, the TLS and token options applying to every
one of them) or in a TOML file, one table per target:

    [[target]]
    name = "fleet"
    address = "dns:///saliency.ml.svc:50051"
    tls_ca = "ca.pem"                 # TLS; with tls_cert and tls_key, mutual TLS
    token_file = "fleet.token"        # a bearer token, read from a file, never from the page

Tokens never reach the browser: the page names a target, and the web server calls it.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from saliency_client._channel import tls_credentials
from saliency_client.async_client import AsyncSaliencyClient

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_KEYS = {"name", "address", "tls_ca", "tls_cert", "tls_key", "token_file"}


class TargetError(ValueError):
    """A target is badly given; the message names the target and the setting."""


@dataclass(frozen=True)
class Target:
    """One server (or one name for many) the page may call."""

    name: str
    address: str
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token_file: Path | None = None
    token: str | None = None
    """A token given directly (the SALIENCY_TOKEN environment variable); a file wins."""

    @property
    def tls(self) -> bool:
        """Whether calls go over TLS."""
        return self.tls_ca is not None or self.tls_cert is not None

    def connect(self, timeout: float) -> AsyncSaliencyClient:
        """Open a client for this target (call inside the event loop that will use it).

        Raises:
            TargetError: a TLS or token file cannot be read, or only half a client pair.
        """
        try:
            token = self.token_file.read_text().strip() if self.token_file else self.token
            credentials = (
                tls_credentials(self.tls_ca, self.tls_cert, self.tls_key) if self.tls else None
            )
        except (OSError, ValueError) as error:
            raise TargetError(f"target '{self.name}': {error}") from None
        return AsyncSaliencyClient(self.address, timeout=timeout, credentials=credentials,
                                   token=token or None)

    def describe(self) -> dict[str, object]:
        """What the page may know: the name, the address and whether TLS/a token are on."""
        return {"name": self.name, "address": self.address, "tls": self.tls,
                "token": bool(self.token_file or self.token)}


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise TargetError(
            f"target name {name[:64]!r} must be 1-64 letters, digits, '_', '.' or '-'"
        )
    return name


def parse_target(text: str, **settings: object) -> Target:
    """Parse `NAME=ADDRESS` or a bare `ADDRESS` (named "default") with shared settings."""
    name, equals, address = text.partition("=")
    if not equals:
        name, address = "default", text
    if not address:
        raise TargetError(f"target {text[:64]!r} has no address")
    return Target(_checked_name(name), address, **settings)  # type: ignore[arg-type]


def read_targets_file(path: Path) -> list[Target]:
    """Read a TOML file of `[[target]]` tables; relative paths are relative to the file.

    Raises:
        TargetError: unreadable file, unknown key, missing name or address.
    """
    try:
        tables = tomllib.loads(path.read_text()).get("target", [])
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TargetError(f"{path}: {error}") from None
    if not isinstance(tables, list) or not tables:
        raise TargetError(f"{path}: give at least one [[target]] table")
    targets = []
    for index, table in enumerate(tables):
        unknown = set(table) - _KEYS
        if unknown:
            raise TargetError(f"{path}: target {index}: unknown keys {sorted(unknown)}")
        if not isinstance(table.get("name"), str) or not isinstance(table.get("address"), str):
            raise TargetError(f"{path}: target {index}: 'name' and 'address' must be text")
        def file(key: str, table: dict[str, object] = table) -> Path | None:
            return path.parent / str(table[key]) if key in table else None

        targets.append(Target(_checked_name(table["name"]), table["address"],
                              tls_ca=file("tls_ca"), tls_cert=file("tls_cert"),
                              tls_key=file("tls_key"), token_file=file("token_file")))
    return targets


def unique(targets: list[Target]) -> dict[str, Target]:
    """Targets by name, in order.

    Raises:
        TargetError: none given, or two with one name.
    """
    if not targets:
        raise TargetError("give at least one target")
    by_name: dict[str, Target] = {}
    for target in targets:
        if target.name in by_name:
            raise TargetError(f"two targets are named '{target.name}'")
        by_name[target.name] = target
    return by_name


def environment_token() -> str | None:
    """The token in SALIENCY_TOKEN, if set (so that it never appears on a command line)."""
    return os.environ.get("SALIENCY_TOKEN") or None
