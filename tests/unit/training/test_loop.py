"""Training runs: seeded, resumable to the same weights, and their model folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from saliency_service.training.checkpoint import TrainingState
from saliency_service.training.job import fresh_model, repository_model, run_job
from saliency_service.training.loop import TrainSettings, train
from saliency_service.training.recipes import Recipe

from tests.unit.training.toy import EPS, SIZE, toy

RECIPE = Recipe("pgd_sat", eps=EPS, steps=2)


class Interrupted(Exception):
    pass


def settings(folder: Path | None = None, every: int = 0) -> TrainSettings:
    return TrainSettings(epochs=2, batch_size=16, seed=4, checkpoint_dir=folder,
                         checkpoint_every=every, val_limit=16, val_pgd_steps=2)


def weights(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return fresh_model("builtin:tiny_cnn", toy(8, 0), SIZE, SIZE).classifier.state_dict()


def test_a_resumed_run_ends_with_the_uninterrupted_runs_weights(tmp_path: Path) -> None:
    data, val = toy(40, seed=1), toy(16, seed=2)  # 3 batches an epoch, the last one short
    torch.manual_seed(0)
    whole = fresh_model("builtin:tiny_cnn", data, SIZE, SIZE).classifier
    whole_state = train(whole, data, val, RECIPE, settings())

    torch.manual_seed(0)
    first = fresh_model("builtin:tiny_cnn", data, SIZE, SIZE).classifier

    def stop(state: TrainingState) -> None:
        if state.step == 4:  # in the middle of the second epoch
            raise Interrupted

    with pytest.raises(Interrupted):
        train(first, data, val, RECIPE, settings(tmp_path, every=1), on_step=stop)
    # A new process: other initial weights, which the checkpoint replaces.
    torch.manual_seed(99)
    second = fresh_model("builtin:tiny_cnn", data, SIZE, SIZE).classifier
    resumed_state = train(second, data, val, RECIPE, settings(tmp_path, every=1))

    assert resumed_state.step == whole_state.step == 6
    for name, tensor in whole.state_dict().items():
        assert torch.equal(second.state_dict()[name], tensor), name
    assert not torch.equal(weights(0)["network.fc.weight"], whole.state_dict()["network.fc.weight"])
    drop = ("seconds",)
    assert ([{k: v for k, v in r.items() if k not in drop} for r in resumed_state.history]
            == [{k: v for k, v in r.items() if k not in drop} for r in whole_state.history])
    # A checkpoint is never resumed by a run with other settings.
    with pytest.raises(ValueError, match="another configuration"):
        train(second, data, val, Recipe("pgd", eps=EPS), settings(tmp_path, every=1))


def test_sat_refuses_data_without_saliency() -> None:
    data = toy(8, seed=1)
    data.has_saliency = False
    model = fresh_model("builtin:tiny_cnn", data, SIZE, SIZE).classifier
    with pytest.raises(ValueError, match="saliency"):
        train(model, data, None, Recipe("sat"), settings())


def test_the_model_folder_holds_weights_config_report_and_curves(tmp_path: Path) -> None:
    data = toy(32, seed=1)
    base = fresh_model("builtin:tiny_cnn", data, SIZE, SIZE)
    report = run_job(base, data, toy(16, seed=2), Recipe("noise", eps=EPS),
                     TrainSettings(epochs=2, batch_size=16, val_pgd_steps=0), tmp_path / "m")
    written = json.loads((tmp_path / "m" / "training.json").read_text())
    assert written["recipe"]["name"] == "noise" and len(written["history"]) == 2
    assert set(written["final"]) == {"val_accuracy", "val_pgd5_accuracy"}
    assert report["final"] == written["final"]
    with Image.open(tmp_path / "m" / "curves.png") as curves:
        assert curves.format == "PNG" and curves.size == (640, 360)
    # Fine-tuning reads the folder back: the same weights, the same labels.
    again = repository_model(tmp_path / "m")
    assert again.labels == data.classes
    for name, tensor in base.classifier.state_dict().items():
        assert torch.equal(again.classifier.state_dict()[name], tensor), name
    assert "name =" not in again.toml


def test_bfloat16_training_steps_stay_finite() -> None:
    data = toy(16, seed=1)
    torch.manual_seed(0)
    model = fresh_model("builtin:tiny_cnn", data, SIZE, SIZE).classifier
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = train(model, data, None, Recipe("trades", eps=EPS, steps=1),
                  TrainSettings(epochs=1, batch_size=8, bfloat16=True))
    assert state.step == 2 and math.isfinite(state.history[0]["loss"])
    after = model.state_dict()
    assert all(torch.isfinite(t).all() for t in after.values())
    assert not torch.equal(after["network.fc.weight"], before["network.fc.weight"])
