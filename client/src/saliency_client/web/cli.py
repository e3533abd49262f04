"""`saliency-web`: serve the page on one port, talking to one or more saliency-servers.

    saliency-web --target localhost:50051
    saliency-web --target local=localhost:50051 --target fleet=dns:///saliency.ml.svc:50051 \\
        --tls-ca ca.pem                       # TLS (and a token) for every --target
    saliency-web --targets-file targets.toml  # one table per target, each with its own
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from saliency_client.web.app import create_app
from saliency_client.web.state import Settings
from saliency_client.web.targets import (
    TargetError,
    environment_token,
    parse_target,
    read_targets_file,
    unique,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saliency-web", description="A web page for saliency-servers: models, maps, "
        "attacks and robustness reports.")
    parser.add_argument("--target", action="append", default=[], metavar="[NAME=]ADDRESS",
                        help="a server (repeatable); default $SALIENCY_TARGET or "
                        "localhost:50051")
    parser.add_argument("--targets-file", type=Path, metavar="TOML",
                        help="targets with their own TLS and token files ([[target]] tables)")
    parser.add_argument("--tls-ca", type=Path, help="PEM CA of the servers' certificates (TLS)")
    parser.add_argument("--tls-cert", type=Path, help="PEM client certificate (mutual TLS)")
    parser.add_argument("--tls-key", type=Path, help="PEM key of --tls-cert")
    parser.add_argument("--token-file", type=Path,
                        help="bearer token file for the servers (else $SALIENCY_TOKEN)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve the page on")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free one)")
    parser.add_argument("--max-upload-mib", type=float, default=16.0,
                        help="largest image upload, MiB")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per server call")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="Explain calls in flight at once for one gallery")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The application's settings from parsed arguments.

    Raises:
        TargetError: targets badly given.
    """
    targets = read_targets_file(args.targets_file) if args.targets_file else []
    shared = {"tls_ca": args.tls_ca, "tls_cert": args.tls_cert, "tls_key": args.tls_key,
              "token_file": args.token_file, "token": environment_token()}
    given = args.target or ([] if targets else
                            [os.environ.get("SALIENCY_TARGET", "localhost:50051")])
    targets += [parse_target(text, **shared) for text in given]
    if args.max_upload_mib <= 0 or args.timeout <= 0 or args.concurrency < 1:
        raise TargetError("--max-upload-mib and --timeout must be positive, --concurrency ≥ 1")
    return Settings(unique(targets), max_upload_bytes=int(args.max_upload_mib * 2**20),
                    timeout=args.timeout, concurrency=args.concurrency)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted; return the exit status (0, or 2 for bad settings)."""
    args = _parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except TargetError as error:
        print(f"saliency-web: error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    # Bound here, not by uvicorn, so that the URL printed is the real one even for --port 0.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.host, args.port))
        listener.listen(128)  # connections wait in the backlog until uvicorn serves them
    except OSError as error:
        message = f"cannot listen on {args.host}:{args.port}: {error}"
        print(f"saliency-web: error: {message}", file=sys.stderr)  # noqa: T201
        return 2
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"saliency-web serving http://{shown}:{port}/ for "  # noqa: T201
          f"{', '.join(settings.targets)}", flush=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    config = uvicorn.Config(create_app(settings), log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[listener])
    return 0
