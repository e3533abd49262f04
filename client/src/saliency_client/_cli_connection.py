"""How the `saliency` CLI connects: address, deadline, TLS, mutual TLS and a bearer token.

Every option also comes from the environment (flags win), so that secrets need not appear on
a command line, where `ps` shows them to every user of the machine.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from saliency_client._channel import tls_credentials
from saliency_client.client import SaliencyClient
from saliency_client.errors import InvalidArgument

_TRUE = ("1", "true", "yes", "on")


def _env(name: str) -> str | None:
    return os.environ.get(f"SALIENCY_{name}") or None


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The connection's options, with their SALIENCY_* defaults."""
    parser.add_argument(
        "--target", default=_env("TARGET") or "localhost:50051",
        help="server address, or any gRPC target, e.g. dns:///saliency.ns.svc:50051 "
        "(round-robin over its addresses) (default: $SALIENCY_TARGET or localhost:50051)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    tls = parser.add_argument_group(
        "security", "TLS turns on with --tls or any file below; mutual TLS with a client "
        "certificate and key. Each option also reads SALIENCY_<OPTION> (e.g. SALIENCY_TOKEN).")
    tls.add_argument("--tls", action="store_true",
                     default=(_env("TLS") or "").lower() in _TRUE,
                     help="TLS, trusting the system's root certificates ($SALIENCY_TLS=1)")
    tls.add_argument("--tls-ca", type=Path, default=_env("TLS_CA"), metavar="PEM",
                     help="CA that signed the server's certificate ($SALIENCY_TLS_CA)")
    tls.add_argument("--tls-client-cert", "--tls-cert", type=Path,
                     default=_env("TLS_CLIENT_CERT"), metavar="PEM",
                     help="client certificate, for mutual TLS ($SALIENCY_TLS_CLIENT_CERT)")
    tls.add_argument("--tls-client-key", "--tls-key", type=Path, default=_env("TLS_CLIENT_KEY"),
                     metavar="PEM", help="its private key ($SALIENCY_TLS_CLIENT_KEY)")
    tls.add_argument("--tls-server-name", default=_env("TLS_SERVER_NAME"), metavar="NAME",
                     help="the name the server's certificate must carry, when the target "
                     "is an address ($SALIENCY_TLS_SERVER_NAME)")
    tls.add_argument("--token", default=_env("TOKEN"),
                     help="bearer token ($SALIENCY_TOKEN; prefer it or --token-file: a "
                     "command line is visible to other users)")
    tls.add_argument("--token-file", type=Path, default=_env("TOKEN_FILE"), metavar="FILE",
                     help="file holding the bearer token ($SALIENCY_TOKEN_FILE)")


def connect(args: argparse.Namespace) -> SaliencyClient:
    """A client for the parsed options.

    Raises:
        InvalidArgument, OSError: as `connection`.
    """
    return SaliencyClient(args.target, **connection(args))


def connection(args: argparse.Namespace) -> dict[str, Any]:
    """The client's keyword arguments (`SaliencyClient` or `AsyncSaliencyClient`) for the
    parsed options, but for the target.

    Raises:
        InvalidArgument: options that do not fit together (a certificate without its key, two
            tokens, TLS options without TLS's certificates, an empty token file).
        OSError: a file cannot be read.
    """
    files = (args.tls_ca, args.tls_client_cert, args.tls_client_key)
    secure = args.tls or any(f is not None for f in files)
    if args.tls_server_name and not secure:
        raise InvalidArgument("--tls-server-name needs TLS (--tls or --tls-ca)")
    credentials = (
        tls_credentials(args.tls_ca, args.tls_client_cert, args.tls_client_key)
        if secure else None
    )
    options = [("grpc.ssl_target_name_override", args.tls_server_name)] if args.tls_server_name \
        else []
    return {"timeout": args.timeout, "credentials": credentials, "token": _token(args),
            "options": options}


def _token(args: argparse.Namespace) -> str | None:
    if args.token is not None and args.token_file is not None:
        raise InvalidArgument("give the token once: --token or --token-file")
    if args.token_file is None:
        return args.token  # type: ignore[no-any-return]
    token = Path(args.token_file).read_text().strip()
    if not token:
        raise InvalidArgument(f"the token file {args.token_file} is empty")
    return token
