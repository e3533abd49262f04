"""Server settings: one frozen dataclass, read once at start-up from CLI flags and SALIENCY_* env."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

DEMO_REPOSITORY = Path(__file__).resolve().parent / "demo" / "repository"


class ConfigError(ValueError):
    """A setting is missing or out of range; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs to start. Defaults serve the built-in demo repository."""

    repository: Path = DEMO_REPOSITORY
    host: str = "[::]"
    port: int = 50051
    # 0 turns the Prometheus endpoint off.
    metrics_port: int = 9090
    # "auto" = every visible GPU, else the CPU; or a comma-separated list such as "cuda:0,cuda:1".
    devices: str = "auto"
    max_batch_size: int = 32
    max_queue_delay_ms: float = 5.0
    max_queue_size: int = 1024
    max_items_per_request: int = 256
    max_message_bytes: int = 64 * 1024 * 1024
    # Decoded images larger than this are refused before decoding (decompression bombs).
    max_image_pixels: int = 4096 * 4096
    grace_period_s: float = 30.0

    def __post_init__(self) -> None:
        positive = (
            "max_batch_size",
            "max_queue_size",
            "max_items_per_request",
            "max_message_bytes",
            "max_image_pixels",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be greater than 0, got {getattr(self, name)}")
        for name in ("port", "metrics_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(f"{name} must be in 0..65535, got {getattr(self, name)}")
        if self.max_queue_delay_ms < 0 or self.grace_period_s < 0:
            raise ConfigError("max_queue_delay_ms and grace_period_s must not be negative")
        if not self.repository.is_dir():
            raise ConfigError(f"repository {str(self.repository)!r} is not a directory")

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, object] | None = None, prefix: str = "SALIENCY_"
    ) -> ServerConfig:
        """Build from `prefix`+UPPER_NAME environment variables, then `overrides` (CLI flags).

        Raises:
            ConfigError: a value does not parse or is out of range; the message names the key.
        """
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = os.environ.get(prefix + field.name.upper())
            if raw is not None:
                values[field.name] = _parse(prefix + field.name.upper(), raw, field.type)
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        if "repository" in values:
            values["repository"] = Path(str(values["repository"]))
        return cls(**values)  # type: ignore[arg-type]


def _parse(key: str, raw: str, type_name: object) -> object:
    kinds = {"int": int, "float": float, "str": str, "Path": Path}
    kind = kinds.get(str(type_name), str)
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a valid {kind.__name__}") from None
