"""`saliency evaluate --plot` prints what the server reports and draws it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from saliency_client import SaliencyClient, cli

pytestmark = pytest.mark.integration
DEMO = Path(__file__).resolve().parents[2] / "client/src/saliency_client/web/static/demo"
FILES = [DEMO / f"{name}.png" for name in ("circle", "square", "star")]


def test_evaluate_prints_the_servers_accuracies_and_plots_them(
    grpc_target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "accuracy.png"
    status = cli.main(["--target", grpc_target, "--model", "shapes", "evaluate",
                       *map(str, FILES), "--labels", "0,2,5", "--attack", "fgsm",
                       "--attack", "pgd", "--param", "pgd.steps=5", "--eps", "0,4/255,8/255",
                       "--plot", str(plot)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    with SaliencyClient(grpc_target) as client:
        report = client.evaluate([f.read_bytes() for f in FILES], [0, 2, 5], model="shapes",
                                 attacks={"fgsm": {}, "pgd": {"steps": 5}},
                                 epsilons=[0, 4 / 255, 8 / 255])
    rows = [line.split() for line in printed.splitlines() if line.startswith(("fgsm ", "pgd "))]
    expected = [[c.attack, f"{a:.1%}", f"{o:.1%}"] for c in report.curves
                for a, o in zip(c.accuracy, c.onnx_accuracy, strict=True)]
    assert [[r[0], r[2], r[3]] for r in rows] == expected
    assert f"clean accuracy: {report.clean_accuracy:.1%}" in printed
    with Image.open(plot) as picture:
        pixels = np.asarray(picture.convert("RGB")).astype(int)
    assert pixels.shape[:2] == (500, 800)
    blue = (np.abs(pixels - [31, 119, 180]).sum(axis=2) < 40).sum()
    orange = (np.abs(pixels - [255, 127, 14]).sum(axis=2) < 40).sum()
    assert blue > 100 and orange > 100  # both curves are drawn


def test_a_parameter_no_chosen_method_takes_is_refused_before_any_call(
    grpc_target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["--target", grpc_target, "explain", str(FILES[0]), "--methods",
                       "grad_cam,cam", "--param", "steps=3"])
    assert status == 1
    assert "none of the chosen methods takes 'steps'" in capsys.readouterr().err
