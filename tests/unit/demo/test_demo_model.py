"""The committed demo model: its files load as the service loads them, and it classifies well."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from saliency_service.demo import train
from saliency_service.demo.shapes import CLASSES, generate
from saliency_service.models.classifier import Classifier
from saliency_service.models.shapes_cnn import CAM_LAYER, ShapesCNN

ENTRY = train.DEFAULT_OUT
# At or above the training script's offset, so training never saw these images.
FRESH_SEED = train.TEST_SEED_OFFSET + 424_242


def _config(folder: Path) -> dict[str, Any]:
    with (folder / "model.toml").open("rb") as file:
        return tomllib.load(file)


def _load(folder: Path) -> Classifier:
    config = _config(folder)
    network = ShapesCNN(num_classes=len(CLASSES))
    network.load_state_dict(load_file(str(folder / config["weights"])))
    return Classifier(network, config["input"]["mean"], config["input"]["std"]).eval()


def test_the_entry_names_the_builtin_architecture_and_its_files() -> None:
    config = _config(ENTRY)
    assert config["architecture"] == "builtin:shapes_cnn"
    assert config["cam_layer"] == CAM_LAYER
    assert (ENTRY / config["labels"]).read_text().splitlines() == list(CLASSES)
    shape = config["input"]
    assert (shape["height"], shape["width"], shape["channels"]) == (64, 64, 3)
    assert len(shape["mean"]) == len(shape["std"]) == 3
    assert all(0 < s < 1 for s in shape["std"])
    assert config["batching"] == {"max_batch_size": 32, "max_queue_delay_ms": 5}


def test_the_weights_are_small_float32_tensors() -> None:
    weights = ENTRY / _config(ENTRY)["weights"]
    assert weights.stat().st_size < 2 * 2**20
    state = load_file(str(weights))
    assert {t.dtype for t in state.values() if t.is_floating_point()} == {torch.float32}


def test_the_cam_layer_is_a_16x16_map_at_64_px() -> None:
    model = _load(ENTRY)
    captured: list[torch.Tensor] = []
    handle = model.layer(CAM_LAYER).register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        with torch.no_grad():
            model(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    finally:
        handle.remove()
    assert captured[0].shape[0] == 2
    assert captured[0].shape[2:] == (16, 16)


def test_accuracy_on_fresh_images_is_at_least_95_percent() -> None:
    batch = generate(600, seed=FRESH_SEED)
    model = _load(ENTRY)
    with torch.no_grad():
        predictions = model(train.to_tensor(batch.images)).argmax(dim=1)
    accuracy = (predictions == torch.from_numpy(batch.labels)).float().mean().item()
    assert accuracy >= 0.95


def test_written_entries_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = ShapesCNN(num_classes=len(CLASSES)).eval()
    train.write_repository(tmp_path, network, [0.1, 0.2, 0.3], [0.4, 0.5, 0.6], size=64)
    config = _config(tmp_path)
    assert config["input"]["mean"] == pytest.approx([0.1, 0.2, 0.3])
    assert config["input"]["std"] == pytest.approx([0.4, 0.5, 0.6])
    images = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        expected = Classifier(network, [0.1, 0.2, 0.3], [0.4, 0.5, 0.6])(images)
        actual = _load(tmp_path)(images)
    torch.testing.assert_close(actual, expected)
