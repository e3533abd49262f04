"""The `saliency` CLI against a server with mutual TLS and bearer tokens: flags and SALIENCY_*
environment variables, over real loopback TLS connections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from saliency_client import cli, encode_png

from tests.integration.certs import Pki, make_pki
from tests.integration.server_process import write_tiny_repository
from tests.serving import ServerThread

pytestmark = pytest.mark.integration

TOKEN = "gamma-token"
# Every variable the CLI reads; each test starts without any of them.
ENVIRONMENT = ("TARGET", "TLS", "TLS_CA", "TLS_CLIENT_CERT", "TLS_CLIENT_KEY",
               "TLS_SERVER_NAME", "TOKEN", "TOKEN_FILE")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ServerThread]:
    """Mutual TLS and a bearer token, as deploy/ runs it."""
    repository = write_tiny_repository(tmp_path_factory.mktemp("repository"))
    running = ServerThread(repository, tls_cert=pki.server.cert, tls_key=pki.server.key,
                           tls_client_ca=pki.ca, auth_tokens=TOKEN)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(f"SALIENCY_{name}", raising=False)


def mtls_flags(pki: Pki) -> list[str]:
    return ["--tls-ca", str(pki.ca), "--tls-client-cert", str(pki.client.cert),
            "--tls-client-key", str(pki.client.key)]


def run(server: ServerThread, *argv: str) -> int:
    return cli.main(["--target", server.target, "--timeout", "20", *argv])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_flags_give_mutual_tls_and_the_token(
    server: ServerThread, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(server, *mtls_flags(pki), "--token", TOKEN, "models") == 0
    assert "shapes" in capsys.readouterr().out


def test_the_environment_gives_them_too_and_explain_works(
    server: ServerThread, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    for name, value in (("TARGET", server.target), ("TLS_CA", pki.ca),
                        ("TLS_CLIENT_CERT", pki.client.cert), ("TLS_CLIENT_KEY", pki.client.key),
                        ("TOKEN_FILE", tmp_path / "token")):
        monkeypatch.setenv(f"SALIENCY_{name}", str(value))
    image = tmp_path / "image.png"
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    image.write_bytes(encode_png(pixels))
    overlay = tmp_path / "overlay.png"
    assert cli.main(["explain", str(image), "--method", "grad_cam", "-o", str(overlay)]) == 0
    assert overlay.read_bytes().startswith(b"\x89PNG")
    assert "explained:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("token", "expected"),
    [(None, "unauthenticated"), ("wrong-token", "unauthenticated")],
)
def test_a_missing_or_wrong_token_is_refused(
    server: ServerThread, pki: Pki, capsys: pytest.CaptureFixture[str], token: str | None,
    expected: str,
) -> None:
    flags = [] if token is None else ["--token", token]
    assert run(server, *mtls_flags(pki), *flags, "models") == 1
    assert one_line_error(capsys).startswith(f"saliency: error: {expected}: ")


@pytest.mark.parametrize(
    "security",
    [
        pytest.param([], id="plain-text"),
        pytest.param(["--tls"], id="system-roots"),
        pytest.param(["--tls-ca", "CA"], id="no-client-certificate"),
    ],
)
def test_connections_the_server_cannot_accept_fail_cleanly(
    server: ServerThread, pki: Pki, capsys: pytest.CaptureFixture[str], security: list[str]
) -> None:
    flags = [str(pki.ca) if flag == "CA" else flag for flag in security]
    assert run(server, *flags, "--token", TOKEN, "models") == 1
    assert one_line_error(capsys).startswith("saliency: error: unavailable: ")


def test_the_server_name_can_be_named_for_an_address(
    server: ServerThread, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    # The certificate names localhost and 127.0.0.1, not this name.
    flags = [*mtls_flags(pki), "--token", TOKEN]
    assert run(server, *flags, "--tls-server-name", "saliency.example", "models") == 1
    assert one_line_error(capsys).startswith("saliency: error: unavailable: ")
    assert run(server, *flags, "--tls-server-name", "localhost", "models") == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tls-client-cert", "CERT"], "cert_file and key_file must be given together"),
        (["--token", TOKEN, "--token-file", "TOKEN"], "give the token once"),
        (["--token", "two words"], "without white space"),
        (["--tls-server-name", "localhost"], "needs TLS"),
        (["--tls-ca", "MISSING"], "MISSING"),
    ],
)
def test_options_that_do_not_fit_are_one_line_errors(
    server: ServerThread, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    flags: list[str], message: str,
) -> None:
    (tmp_path / "TOKEN").write_text(TOKEN)
    names = {"CERT": str(pki.client.cert), "TOKEN": str(tmp_path / "TOKEN"),
             "MISSING": str(tmp_path / "MISSING")}
    assert run(server, *[names.get(flag, flag) for flag in flags], "models") == 1
    assert message in one_line_error(capsys)
