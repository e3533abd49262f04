"""Server settings: one frozen dataclass, read once at start-up from flags and SALIENCY_* env."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

DEMO_REPOSITORY = Path(__file__).resolve().parent / "demo" / "repository"
AUTOCAST_CHOICES = ("off", "bfloat16", "float16")


class ConfigError(ValueError):
    """A setting is missing or out of range; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs to start. Defaults serve the built-in demo repository."""

    repository: Path = DEMO_REPOSITORY
    # TorchScript files are programs that run when loaded: off unless the operator vouches for
    # the repository (models/loading.py).
    trust_torchscript: bool = False
    host: str = "[::]"
    port: int = 50051
    # 0 turns the Prometheus endpoint off. It binds `metrics_host`, else `host`.
    metrics_port: int = 9090
    metrics_host: str = ""
    # A plain-text port with health only, for kubelet's gRPC probes (which cannot do TLS);
    # 0 = none, probes use `port`.
    probe_port: int = 0
    # "auto" = every visible GPU, else the CPU; or a comma-separated list such as "cuda:0,cuda:1".
    devices: str = "auto"
    max_batch_size: int = 32
    max_queue_delay_ms: float = 5.0
    # Admission (engine/admission.py): accepted and unanswered work, in images and in estimated
    # device-seconds per device; one tenant (token, else connection) may hold `tenant_share`.
    max_queue_size: int = 1024
    max_queued_seconds: float = 1800.0
    tenant_share: float = 0.5
    # The most estimated device-seconds one request may cost; more is refused before any work.
    max_request_seconds: float = 600.0
    # Passes are sized to last about this long, so that urgent work waits at most one of them.
    slice_ms: float = 500.0
    # ... but never fewer rows than this (memory permitting): below about 16 rows a CPU pass of
    # a ResNet runs well under its batched rate (bench/README.md, "Where the time goes").
    min_pass_rows: int = 16
    # MiB that one device's forward/backward passes may use; 0 = auto (70 % of a GPU's free
    # memory; on the CPU 1/8 of RAM, at most 2 GiB). Chunk sizes follow from it.
    memory_budget_mb: int = 0
    # Channels-last weights and inputs: faster convolutions, same results within float error.
    channels_last: bool = True
    # Autocast for the methods that tolerate it (engine/precision.py): off, bfloat16 or float16.
    autocast: str = "off"
    max_items_per_request: int = 256
    max_message_bytes: int = 64 * 1024 * 1024
    # Decoded images larger than this are refused before decoding (decompression bombs).
    max_image_pixels: int = 4096 * 4096
    grace_period_s: float = 30.0
    # TLS from PEM files; with tls_client_ca, clients need a certificate it signed (mutual TLS).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # Bearer tokens, comma-separated (SALIENCY_AUTH_TOKENS) and/or one per line in a file.
    # Empty and no file = auth off. Kept out of repr so that logging a config leaks none.
    auth_tokens: str = dataclasses.field(default="", repr=False)
    auth_tokens_file: Path | None = None
    # Tokens of the Admin service (reloading models), distinct from the above; none = Admin off.
    admin_tokens: str = dataclasses.field(default="", repr=False)
    admin_tokens_file: Path | None = None
    # Re-read the repository this often (seconds) and apply its changes live; 0 = never (then
    # only the Admin service's ReloadModels changes models).
    repository_poll_s: float = 0.0

    def __post_init__(self) -> None:
        positive = (
            "max_batch_size",
            "max_queue_size",
            "max_items_per_request",
            "max_message_bytes",
            "max_image_pixels",
            "min_pass_rows",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be greater than 0, got {getattr(self, name)}")
        for name in ("port", "metrics_port", "probe_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(f"{name} must be in 0..65535, got {getattr(self, name)}")
        for name in ("max_queued_seconds", "max_request_seconds", "slice_ms"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be greater than 0, got {getattr(self, name)}")
        if not 0 < self.tenant_share <= 1:
            raise ConfigError(f"tenant_share must be in (0, 1], got {self.tenant_share}")
        if self.repository_poll_s < 0:
            raise ConfigError(
                f"repository_poll_s must not be negative, got {self.repository_poll_s}"
            )
        if self.max_queue_delay_ms < 0 or self.grace_period_s < 0:
            raise ConfigError("max_queue_delay_ms and grace_period_s must not be negative")
        if self.memory_budget_mb < 0:
            raise ConfigError(f"memory_budget_mb must not be negative, got {self.memory_budget_mb}")
        if self.autocast not in AUTOCAST_CHOICES:
            raise ConfigError(
                f"autocast must be one of {', '.join(AUTOCAST_CHOICES)}, got {self.autocast!r}"
            )
        if not self.repository.is_dir():
            raise ConfigError(f"repository {str(self.repository)!r} is not a directory")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key must be set together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigError("tls_client_ca (mutual TLS) needs tls_cert and tls_key")
        for name in ("tls_cert", "tls_key", "tls_client_ca", "auth_tokens_file",
                     "admin_tokens_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ConfigError(f"{name} {str(path)!r} is not a file")

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
        for name in ("repository", "tls_cert", "tls_key", "tls_client_ca", "auth_tokens_file",
                     "admin_tokens_file"):
            if name in values:
                values[name] = Path(str(values[name]))
        return cls(**values)  # type: ignore[arg-type]


def _parse(key: str, raw: str, type_name: object) -> object:
    kinds: dict[str, Callable[[str], object]] = {
        "int": int,
        "float": float,
        "str": str,
        "bool": _flag,
        "Path": Path,
        "Path | None": Path,
    }
    kind = kinds.get(str(type_name), str)
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a valid {type_name}") from None


def _flag(raw: str) -> bool:
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)
