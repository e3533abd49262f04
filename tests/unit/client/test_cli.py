"""The `saliency` CLI's parsing, image reading and error reporting (no server needed)."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from saliency_client import _cli_support, cli, encode_png

PIXELS = np.random.default_rng(3).integers(0, 256, (6, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps=10", ("steps", 10)),
        ("stdev=0.15", ("stdev", 0.15)),
        ("step_size=2/255", ("step_size", 2 / 255)),
        ("abs=True", ("abs", True)),
        ("abs=false", ("abs", False)),
        ("layer=layer4.1", ("layer", "layer4.1")),
        ("note=", ("note", "")),
    ],
)
def test_params_parse_to_flag_int_number_or_text(text: str, expected: tuple[str, object]) -> None:
    name, value = _cli_support.param(text)
    assert (name, value) == expected
    assert type(value) is type(expected[1])


@pytest.mark.parametrize(
    ("text", "message"), [("steps", "NAME=VALUE"), ("=3", "NAME=VALUE"), ("eps=0.1", "own option")]
)
def test_bad_params_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        _cli_support.param(text)


def test_eps_accepts_fractions() -> None:
    assert _cli_support.number("8/255") == pytest.approx(8 / 255)
    assert _cli_support.number("0.5") == 0.5
    for bad in ("1/0", "eight", "1/x"):
        with pytest.raises(argparse.ArgumentTypeError):
            _cli_support.number(bad)


def test_png_is_read_by_the_builtin_codec_and_sent_as_is(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(encode_png(PIXELS))
    data, pixels = _cli_support.read_image(str(path))
    assert data == path.read_bytes()
    np.testing.assert_array_equal(pixels, PIXELS)


def test_other_formats_need_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "image.bmp"
    Image.fromarray(PIXELS).save(path)
    data, pixels = _cli_support.read_image(str(path))
    np.testing.assert_array_equal(pixels, PIXELS)
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(ValueError, match=r"not a PNG file.*install Pillow"):
        _cli_support.read_image(str(path))


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1
    return err


def test_unreachable_server_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--target", _closed_port(), "--timeout", "10", "models"]) == 1
    assert _one_line_error(capsys).startswith("saliency: error: unavailable: ")


def test_missing_image_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--target", _closed_port(), "explain", str(tmp_path / "missing.png"),
            "--method", "grad_cam", "-o", str(tmp_path / "out.png")]
    assert cli.main(argv) == 1
    assert "missing.png" in _one_line_error(capsys)


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["attack", "x.png", "--eps", "lots", "-o", "adv.png"])
    assert exited.value.code == 2
    assert "not a number or a fraction" in capsys.readouterr().err


def test_bulk_hands_over_to_the_server_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["bulk", "explain", "--help"])
    assert exited.value.code == 0
    assert "--overlays" in capsys.readouterr().out  # the server package's bulk parser


def test_bulk_without_the_server_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "saliency_service.bulk.cli", None)  # as if not installed
    assert cli.main(["bulk", "explain", "images/", "-o", "out/"]) == 1
    assert "pip install 'saliency-service[bulk]'" in _one_line_error(capsys)


def test_bulk_comes_first(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--target", "x:1", "bulk"])
    assert exited.value.code == 2
    assert "must come first" in capsys.readouterr().err
