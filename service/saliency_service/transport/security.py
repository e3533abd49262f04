"""Transport security: TLS / mutual-TLS credentials from PEM files, and bearer-token auth.

Tokens come from `SALIENCY_AUTH_TOKENS` (comma-separated) and/or a file with one token per
line (blank lines and `#` comments skipped). Every call but health and reflection must carry
`authorization: Bearer <token>`; probes and `grpcurl describe` work without one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
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


def load_tokens(config: ServerConfig) -> frozenset[str]:
    """Every accepted token: those of `auth_tokens` and those of `auth_tokens_file`.

    Raises:
        ConfigError: the tokens file is set but holds no token, which would turn auth off.
    """
    tokens = {t.strip() for t in config.auth_tokens.split(",") if t.strip()}
    if config.auth_tokens_file is not None:
        lines = config.auth_tokens_file.read_text().splitlines()
        from_file = {s for s in (line.strip() for line in lines) if s and not s.startswith("#")}
        if not from_file:
            raise ConfigError(f"auth_tokens_file {str(config.auth_tokens_file)!r} has no token")
        tokens |= from_file
    return frozenset(tokens)


def interceptors(config: ServerConfig) -> list[grpc.aio.ServerInterceptor]:
    """The auth interceptor when tokens are configured; else none, and a warning."""
    tokens = load_tokens(config)
    if not tokens:
        log.warning("bearer-token auth is off: set SALIENCY_AUTH_TOKENS or auth_tokens_file")
        return []
    return [TokenAuthInterceptor(tokens)]


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a known bearer token with UNAUTHENTICATED, before any work."""

    def __init__(self, tokens: frozenset[str]) -> None:
        """Keep only digests, so each check compares fixed-length values."""
        if not tokens:
            raise ValueError("TokenAuthInterceptor needs at least one token")
        self._digests = tuple(_digest(token.encode()) for token in tokens)

    def allows(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> bool:
        """Whether `metadata` carries a known `authorization: Bearer` token."""
        header = dict(metadata or ()).get("authorization", "")
        text = header.decode(errors="replace") if isinstance(header, bytes) else header
        scheme, _, token = text.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        presented = _digest(token.strip().encode())
        # Compare with every token, without stopping at a match, so timing says nothing.
        known = False
        for digest in self._digests:
            known |= hmac.compare_digest(presented, digest)
        return known

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        """Pass open and authenticated calls on; answer the others UNAUTHENTICATED."""
        handler = await continuation(handler_call_details)
        metadata = handler_call_details.invocation_metadata
        if handler_call_details.method.startswith(OPEN_PREFIXES) or self.allows(metadata):
            return handler
        return _refusal(handler)


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


async def _refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)


def _refusal(handler: Handler | None) -> Handler:
    """A handler of `handler`'s kind that refuses the call.

    Unknown methods (None) are refused too, so a caller without a token cannot probe which
    methods exist.
    """
    # The request is left as raw bytes: there is no point decoding what will not be served.
    if handler is None or not (handler.request_streaming or handler.response_streaming):
        return grpc.unary_unary_rpc_method_handler(_refuse)
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(_refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(_refuse)
    return grpc.unary_stream_rpc_method_handler(_refuse)
