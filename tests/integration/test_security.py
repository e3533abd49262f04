"""TLS, mutual TLS and bearer-token auth on real servers over real loopback TLS connections."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from saliency_client import (
    ExplainJob,
    SaliencyClient,
    Unauthenticated,
    Unavailable,
    tls_credentials,
)
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc
from saliency_service.config import ConfigError, ServerConfig
from saliency_service.transport import security

from tests.integration.certs import Pki, make_pki
from tests.integration.server_process import ServerProcess, unused_port, write_tiny_repository
from tests.serving import ServerThread

pytestmark = pytest.mark.integration

TOKENS = ("alpha-token", "beta-token")
IMAGE = np.zeros((32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_repository(tmp_path_factory.mktemp("repository"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(repository: Path, pki: Pki) -> Iterator[ServerThread]:
    """TLS without client certificates or tokens."""
    server = ServerThread(repository, tls_cert=pki.server.cert, tls_key=pki.server.key)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def locked_server(repository: Path, pki: Pki) -> Iterator[ServerThread]:
    """Mutual TLS and bearer tokens."""
    server = ServerThread(
        repository,
        tls_cert=pki.server.cert,
        tls_key=pki.server.key,
        tls_client_ca=pki.ca,
        auth_tokens=",".join(TOKENS),
        probe_port=unused_port(),
    )
    yield server
    server.stop()


def mtls(pki: Pki) -> grpc.ChannelCredentials:
    return tls_credentials(ca_file=pki.ca, cert_file=pki.client.cert, key_file=pki.client.key)


def client(target: str, **kwargs: object) -> SaliencyClient:
    return SaliencyClient(target, timeout=20, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- TLS


def test_tls_serves_a_client_that_trusts_the_ca(tls_server: ServerThread, pki: Pki) -> None:
    with client(tls_server.target, credentials=tls_credentials(ca_file=pki.ca)) as c:
        assert [m.name for m in c.list_models()] == ["shapes"]
        (result,) = c.explain(IMAGE, model="shapes", method="grad_cam")
        assert result.error is None


@pytest.mark.parametrize("trust", ["plain-text", "system-roots"])
def test_tls_refuses_plain_text_and_clients_that_do_not_trust_it(
    tls_server: ServerThread, trust: str
) -> None:
    credentials = None if trust == "plain-text" else tls_credentials()
    with client(tls_server.target, credentials=credentials) as c, pytest.raises(Unavailable):
        c.list_models()


# --------------------------------------------------------------------------------- mutual TLS


def test_mtls_serves_a_client_certificate_signed_by_the_ca(
    locked_server: ServerThread, pki: Pki
) -> None:
    with client(locked_server.target, credentials=mtls(pki), token=TOKENS[0]) as c:
        assert [m.name for m in c.list_models()] == ["shapes"]


@pytest.mark.parametrize("identity", ["none", "stranger"])
def test_mtls_refuses_clients_without_a_certificate_from_its_ca(
    locked_server: ServerThread, pki: Pki, identity: str
) -> None:
    credentials = (
        tls_credentials(ca_file=pki.ca)
        if identity == "none"
        else tls_credentials(ca_file=pki.ca, cert_file=pki.stranger.cert, key_file=pki.stranger.key)
    )
    with (
        client(locked_server.target, credentials=credentials, token=TOKENS[0]) as c,
        pytest.raises(Unavailable),
    ):
        c.list_models()


# ------------------------------------------------------------------------------- bearer tokens


@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Bearer wrong-token"),), (("authorization", "Basic YWxwaGEtdG9rZW4="),),
     (("authorization", f"Bearer{TOKENS[0]}"),)],
    ids=["no-token", "unknown-token", "other-scheme", "no-space"],
)
def test_calls_without_a_known_token_are_unauthenticated(
    locked_server: ServerThread, pki: Pki, metadata: tuple[tuple[str, str], ...]
) -> None:
    with client(locked_server.target, credentials=mtls(pki), metadata=metadata) as c:
        with pytest.raises(Unauthenticated, match="bearer token"):
            c.list_models()
        with pytest.raises(Unauthenticated):
            c.explain(IMAGE, model="shapes", method="grad_cam")
        with pytest.raises(Unauthenticated):
            list(c.explain_stream([ExplainJob("a", IMAGE, model="shapes", method="grad_cam")]))


@pytest.mark.parametrize("token", TOKENS)
def test_every_configured_token_is_accepted(
    locked_server: ServerThread, pki: Pki, token: str
) -> None:
    with client(locked_server.target, credentials=mtls(pki), token=token) as c:
        (result,) = c.explain(IMAGE, model="shapes", method="grad_cam")
        assert result.error is None
        (answer,) = c.explain_stream([ExplainJob("a", IMAGE, model="shapes", method="grad_cam")])
        assert answer.request_id == "a"
        assert answer.error is None


def test_unknown_methods_are_refused_before_they_are_looked_up(
    locked_server: ServerThread, pki: Pki
) -> None:
    with grpc.secure_channel(locked_server.target, mtls(pki)) as channel:
        call = channel.unary_unary("/saliency.v1.Saliency/NoSuchMethod")
        with pytest.raises(grpc.RpcError) as refused:
            call(b"", timeout=20)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as unknown:
            call(b"", timeout=20, metadata=[("authorization", f"Bearer {TOKENS[1]}")])
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]


def test_health_and_reflection_answer_without_a_token(
    locked_server: ServerThread, pki: Pki
) -> None:
    with grpc.secure_channel(locked_server.target, mtls(pki)) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "saliency.v1.Saliency"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=20)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (reply,) = reflection.ServerReflectionInfo(iter([request]), timeout=20)
        names = {s.name for s in reply.list_services_response.service}
        assert "saliency.v1.Saliency" in names


def test_the_probe_port_serves_plain_text_health_and_nothing_else(
    locked_server: ServerThread,
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{locked_server.config.probe_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "saliency.v1.Saliency"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=20)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as refused:
            pb_grpc.SaliencyStub(channel).ListModels(pb.ListModelsRequest(), timeout=20)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]


# -------------------------------------------------------------- settings, and the shipped CLI


def test_tls_and_token_settings_are_checked_and_name_the_key(tmp_path: Path, pki: Pki) -> None:
    base = ServerConfig(repository=tmp_path)
    with pytest.raises(ConfigError, match="tls_cert and tls_key"):
        replace(base, tls_cert=pki.server.cert)
    with pytest.raises(ConfigError, match="tls_client_ca"):
        replace(base, tls_client_ca=pki.ca)
    with pytest.raises(ConfigError, match="auth_tokens_file"):
        replace(base, auth_tokens_file=tmp_path / "missing")
    mismatched = replace(base, tls_cert=pki.server.cert, tls_key=pki.client.key)
    with pytest.raises(ConfigError, match="tls_cert/tls_key"):
        security.server_credentials(mismatched)
    empty = tmp_path / "empty-tokens"
    empty.write_text("# no tokens yet\n\n")
    with pytest.raises(ConfigError, match="has no token"):
        security.load_tokens(replace(base, auth_tokens_file=empty))
    assert "secret" not in repr(replace(base, auth_tokens="secret"))


def test_tokens_come_from_the_environment_and_a_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# rotated 2026-11\nfile-one\n\n  file-two  \n")
    config = ServerConfig.from_env(
        {"repository": tmp_path, "auth_tokens_file": tokens}, prefix="TEST_SALIENCY_"
    )
    assert security.load_tokens(replace(config, auth_tokens=" env-one, ,env-two")) == {
        "env-one", "env-two", "file-one", "file-two",
    }


def test_the_cli_serves_mtls_with_tokens_from_a_file_and_the_environment(
    repository: Path, pki: Pki, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("file-token\n")
    flags = (
        "--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key),
        "--tls-client-ca", str(pki.ca), "--auth-tokens-file", str(tokens),
    )
    with ServerProcess(repository, *flags, env={"SALIENCY_AUTH_TOKENS": "env-token"}) as server:
        for token in ("file-token", "env-token"):
            with client(server.target, credentials=mtls(pki), token=token) as c:
                assert [m.name for m in c.list_models()] == ["shapes"]
        with client(server.target, credentials=mtls(pki)) as c, pytest.raises(Unauthenticated):
            c.list_models()
        server.terminate()
        assert server.wait(timeout=60) == 0


def test_the_cli_refuses_a_key_that_does_not_match_the_certificate(
    repository: Path, pki: Pki
) -> None:
    command = [
        sys.executable, "-m", "saliency_service", "--repository", str(repository), "--port", "0",
        "--tls-cert", str(pki.server.cert), "--tls-key", str(pki.client.key),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert "tls_cert/tls_key" in done.stderr
