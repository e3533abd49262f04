"""`saliency-train`: arguments to a model folder, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from saliency_service.models.config import read_model_config
from saliency_service.train_cli import main


def test_generated_data_to_a_model_folder_then_fine_tuned(tmp_path: Path) -> None:
    common = ["--data", "generated", "--generated-count", "24", "--size", "32", "--epochs", "1",
              "--batch-size", "12", "--threads", "1"]
    first = tmp_path / "first"
    assert main([*common, "--architecture", "builtin:tiny_cnn", "--recipe", "sat",
                 "--eps", "2/255", "--out", str(first)]) == 0
    config = read_model_config(first)
    assert config.architecture == "builtin:tiny_cnn" and (config.height, config.width) == (32, 32)
    report = json.loads((first / "training.json").read_text())
    assert report["recipe"]["eps"] == pytest.approx(2 / 255)
    assert report["settings"]["seed"] == 0 and len(report["history"]) == 1
    second = tmp_path / "second"
    assert main([*common, "--model", str(first), "--recipe", "fgsm_rs", "--out", str(second)]) == 0
    assert read_model_config(second).labels == config.labels


def test_bad_inputs_exit_2_with_a_reason(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tmp_path / "missing"), "--architecture", "builtin:tiny_cnn",
                 "--out", str(tmp_path / "out")]) == 2
    with pytest.raises(SystemExit):
        main(["--data", "generated", "--architecture", "x", "--eps", "2", "--out", "o"])
    assert "must be in [0, 1]" in capsys.readouterr().err
