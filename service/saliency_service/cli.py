"""`saliency-server`: serve a model repository over gRPC (the built-in demo one by default)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from saliency_service.allocator import tune_glibc_malloc
from saliency_service.config import ConfigError, ServerConfig
from saliency_service.models.config import ModelConfigError
from saliency_service.transport.server import serve


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="saliency-server",
        description="Serve saliency.v1 (explanations and attacks) for a model repository. "
        "Every option can also be set as SALIENCY_<OPTION> in the environment.",
        epilog="Readiness: a model that fails to load (bad model.toml, corrupt or refused file, "
        "weights that do not fit) is reported not ready, with its reason, by ListModels and "
        "GetModel, and calls naming it get UNAVAILABLE; the other models serve and health is "
        "SERVING. If no model loads, the server exits with status 2 and prints every reason.",
    )
    parser.add_argument(
        "--repository",
        type=Path,
        help="model repository folder (default: the built-in demo repository)",
    )
    parser.add_argument(
        "--trust-torchscript",
        action=argparse.BooleanOptionalAction,
        help="load TorchScript models, which are programs run with the server's rights "
        "(default off: refused)",
    )
    parser.add_argument("--host", help="address to bind (default [::])")
    parser.add_argument("--port", type=int, help="gRPC port (default 50051; 0 = any free port)")
    parser.add_argument(
        "--metrics-port", type=int, help="Prometheus /metrics port (default 9090; 0 = off)"
    )
    parser.add_argument("--metrics-host", help="address /metrics binds (default: --host)")
    parser.add_argument(
        "--probe-port", type=int, help="plain-text port with health only, for probes (0 = off)"
    )
    parser.add_argument("--devices", help='"auto" (default) or e.g. "cuda:0,cuda:1" or "cpu"')
    parser.add_argument("--max-batch-size", type=int)
    parser.add_argument("--max-queue-delay-ms", type=float)
    parser.add_argument(
        "--max-queue-size", type=int, help="images accepted and unanswered, at most (1024)"
    )
    parser.add_argument(
        "--max-queued-seconds",
        type=float,
        help="estimated device-seconds accepted and unanswered, per device (1800)",
    )
    parser.add_argument(
        "--tenant-share",
        type=float,
        help="share of those one client (token, else connection) may hold (0.5)",
    )
    parser.add_argument(
        "--max-request-seconds",
        type=float,
        help="estimated device-seconds one request may cost; more is refused (600)",
    )
    parser.add_argument(
        "--slice-ms",
        type=float,
        help="passes last about this long: urgent work waits at most one (500)",
    )
    parser.add_argument(
        "--min-pass-rows",
        type=int,
        help="but hold at least this many rows, memory permitting: small passes waste the "
        "device (16)",
    )
    parser.add_argument(
        "--memory-budget-mb", type=int, help="MiB per device for forward/backward passes (0 = auto)"
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="channels-last weights and inputs (default on)",
    )
    parser.add_argument(
        "--autocast",
        choices=("off", "bfloat16", "float16"),
        help="mixed precision for the methods that tolerate it (default off)",
    )
    parser.add_argument("--grace-period-s", type=float)
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain; turns TLS on")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument(
        "--tls-client-ca", type=Path, help="PEM CA that client certificates must chain to (mTLS)"
    )
    parser.add_argument(
        "--auth-tokens-file",
        type=Path,
        help="bearer tokens, one per line; also SALIENCY_AUTH_TOKENS (comma-separated)",
    )
    parser.add_argument(
        "--admin-tokens-file",
        type=Path,
        help="tokens of the Admin service (ReloadModels), one per line; also "
        "SALIENCY_ADMIN_TOKENS; none = Admin calls refused",
    )
    parser.add_argument(
        "--repository-poll-s",
        type=float,
        help="re-read the repository this often and apply changes live (0 = never, default)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides = {k: v for k, v in vars(args).items() if k != "log_level"}
    try:
        config = ServerConfig.from_env(overrides)
    except ConfigError as error:
        print(f"saliency-server: {error}", file=sys.stderr)  # noqa: T201
        return 2
    tune_glibc_malloc()
    try:
        asyncio.run(serve(config))
    except ModelConfigError as error:
        print(f"saliency-server: cannot load the repository: {error}", file=sys.stderr)  # noqa: T201
        return 2
    except ConfigError as error:  # TLS files or tokens found unusable when read
        print(f"saliency-server: {error}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
