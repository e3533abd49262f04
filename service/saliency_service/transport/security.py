"""Transport security: TLS / mutual-TLS credentials from PEM files, and bearer-token auth.

Tokens come from `SALIENCY_AUTH_TOKENS` (comma-separated) and/or a file with one token per
line (blank lines and `#` comments skipped). Every call but health and reflection must carry
`authorization: Bearer <token>`; probes and `grpcurl describe` work without one.

The Admin service (reloading models) has tokens of its own (`SALIENCY_ADMIN_TOKENS`,
`admin_tokens_file`): a client token never reloads models, and with no admin token set every
Admin call is refused (PERMISSION_DENIED), auth on or off for the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import grpc
import grpc.aio

from saliency_service.config import ConfigError, ServerConfig

log = logging.getLogger(__name__)

# Health must answer kubelet's probes, which carry no token; reflection only describes the API.
OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
UNAUTHENTICATED_MESSAGE = "missing or unknown bearer token (send 'authorization: Bearer <token>')"
ADMIN_PREFIX = "/saliency.v1.Admin/"
ADMIN_OFF_MESSAGE = "admin calls are off: the server has no admin token (SALIENCY_ADMIN_TOKENS)"
ADMIN_UNKNOWN_MESSAGE = "missing or unknown admin token (send 'authorization: Bearer <token>')"


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """TLS credentials from `config.tls_*`, or None to serve plain text.

    With `tls_client_ca` the server asks for a client certificate and refuses the handshake
    without one signed by that CA (mutual TLS).

    Raises:
        ConfigError: a file is not PEM, or the key does not match the certificate; the message
            names the setting.
    """
    if config.tls_cert is None or config.tls_key is None:
        return None
    # gRPC only finds a bad or mismatched pair at the first handshake; ssl finds it now.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (ssl.SSLError, OSError) as error:
        raise ConfigError(
            f"tls_cert/tls_key do not form a PEM certificate and key: {error}"
        ) from None
    client_ca = None
    if config.tls_client_ca is not None:
        try:
            context.load_verify_locations(cafile=config.tls_client_ca)
        except (ssl.SSLError, OSError) as error:
            raise ConfigError(f"tls_client_ca is not a PEM certificate: {error}") from None
        client_ca = config.tls_client_ca.read_bytes()
    return grpc.ssl_server_credentials(
        [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def load_tokens(config: ServerConfig, kind: str = "auth") -> frozenset[str]:
    """Every accepted token of `kind` ("auth" or "admin"): those of `<kind>_tokens` and those
    of `<kind>_tokens_file`.

    Raises:
        ConfigError: the tokens file is set but holds no token, which would turn auth off.
    """
    listed: str = getattr(config, f"{kind}_tokens")
    path: Path | None = getattr(config, f"{kind}_tokens_file")
    tokens = {t.strip() for t in listed.split(",") if t.strip()}
    if path is not None:
        lines = path.read_text().splitlines()
        from_file = {s for s in (line.strip() for line in lines) if s and not s.startswith("#")}
        if not from_file:
            raise ConfigError(f"{kind}_tokens_file {str(path)!r} has no token")
        tokens |= from_file
    return frozenset(tokens)


def interceptors(config: ServerConfig) -> list[grpc.aio.ServerInterceptor]:
    """The admin interceptor, and the auth interceptor when tokens are configured (else a
    warning)."""
    tokens = load_tokens(config)
    admin: list[grpc.aio.ServerInterceptor] = [AdminInterceptor(load_tokens(config, "admin"))]
    if not tokens:
        log.warning("bearer-token auth is off: set SALIENCY_AUTH_TOKENS or auth_tokens_file")
        return admin
    return [*admin, TokenAuthInterceptor(tokens)]


class AdminInterceptor(grpc.aio.ServerInterceptor):
    """Admin calls need an admin token; with none configured they are all refused."""

    def __init__(self, tokens: frozenset[str]) -> None:
        self._digests = tuple(_digest(token.encode()) for token in tokens)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if not handler_call_details.method.startswith(ADMIN_PREFIX):
            return handler
        if not self._digests:
            return _refusal(handler, grpc.StatusCode.PERMISSION_DENIED, ADMIN_OFF_MESSAGE)
        if _known(handler_call_details.invocation_metadata, self._digests):
            return handler
        return _refusal(handler, grpc.StatusCode.UNAUTHENTICATED, ADMIN_UNKNOWN_MESSAGE)


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a known bearer token with UNAUTHENTICATED, before any work."""

    def __init__(self, tokens: frozenset[str]) -> None:
        """Keep only digests, so each check compares fixed-length values."""
        if not tokens:
            raise ValueError("TokenAuthInterceptor needs at least one token")
        self._digests = tuple(_digest(token.encode()) for token in tokens)

    def allows(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> bool:
        """Whether `metadata` carries a known `authorization: Bearer` token."""
        return _known(metadata, self._digests)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        """Pass open and authenticated calls on; answer the others UNAUTHENTICATED."""
        handler = await continuation(handler_call_details)
        metadata = handler_call_details.invocation_metadata
        # Admin calls are the AdminInterceptor's to judge, with their own tokens.
        if handler_call_details.method.startswith((*OPEN_PREFIXES, ADMIN_PREFIX)):
            return handler
        if self.allows(metadata):
            return handler
        return _refusal(handler, grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)


def _known(metadata: Sequence[tuple[str, str | bytes]] | None, digests: Sequence[bytes]) -> bool:
    """Whether `metadata` carries an `authorization: Bearer` token with one of `digests`."""
    header = dict(metadata or ()).get("authorization", "")
    text = header.decode(errors="replace") if isinstance(header, bytes) else header
    scheme, _, token = text.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    presented = _digest(token.strip().encode())
    # Compare with every token, without stopping at a match, so timing says nothing.
    known = False
    for digest in digests:
        known |= hmac.compare_digest(presented, digest)
    return known


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def _refusal(handler: Handler | None, code: grpc.StatusCode, message: str) -> Handler:
    """A handler of `handler`'s kind that refuses the call with `code` and `message`.

    Unknown methods (None) are refused too, so a caller without a token cannot probe which
    methods exist.
    """

    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, message)

    # The request is left as raw bytes: there is no point decoding what will not be served.
    if handler is None or not (handler.request_streaming or handler.response_streaming):
        return grpc.unary_unary_rpc_method_handler(refuse)
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    return grpc.unary_stream_rpc_method_handler(refuse)
