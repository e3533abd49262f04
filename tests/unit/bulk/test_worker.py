"""The bulk model actor's code without Ray: a decoded batch in, result rows out, for attacks
(the Ray test covers explanations and evaluations), checked against the model itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from saliency_client.png import decode_png, encode_png
from saliency_service.bulk import pipeline
from saliency_service.bulk.codec import Decode, Encode
from saliency_service.bulk.job import BulkJob
from saliency_service.bulk.schema import ATTACK
from saliency_service.bulk.worker import JOB_FAILED, ModelWorker
from saliency_service.config import DEMO_REPOSITORY
from saliency_service.demo.shapes import generate
from saliency_service.models.classifier import Classifier
from saliency_service.models.config import read_model_config
from saliency_service.models.loading import load_network

EPS = 4 / 255


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> BulkJob:
    return BulkJob("attack", "unused", tmp_path_factory.mktemp("out"), method="fgsm",
                   params={"eps": EPS}, overlays=True)


@pytest.fixture(scope="module")
def worker(job: BulkJob) -> Iterator[ModelWorker]:
    running = ModelWorker(job, threads=2)
    yield running
    running.local.close()


def batch(job: BulkJob) -> dict[str, np.ndarray]:
    """Five demo images and one file that is not an image, decoded as the read stage does."""
    images = [encode_png(image) for image in generate(5, seed=11).images] + [b"GIF89a"]
    rows = {
        "key": np.array([f"k{i}" for i in range(6)], dtype=object),
        "shard": np.array(["s"] * 6, dtype=object),
        "path": np.array([""] * 6, dtype=object),
        "image": np.array(images, dtype=object),
        "label": np.array([0, 1, 2, 3, 4, -1], dtype=np.int64),
    }
    return Decode(job.model_config(), keep_images=False)(rows)


def test_attack_rows_say_what_the_model_says_of_the_adversarial_images(
    job: BulkJob, worker: ModelWorker
) -> None:
    rows = Encode(job)(worker(batch(job)))
    assert rows.schema.names[: len(ATTACK.names)] == ATTACK.names
    records = rows.to_pylist()
    assert [r["error"] is None for r in records] == [True] * 5 + [False]
    assert "cannot decode image" in records[5]["error"]
    assert records[5]["label_before"] is None and records[5]["_files"] == []
    config = read_model_config(DEMO_REPOSITORY / "shapes")
    model = Classifier(load_network(config), config.mean, config.std).eval()
    clean = batch(job)["pixels"][:5]
    for record, pixels in zip(records[:5], clean, strict=True):
        assert record["label"] is not None and record["method"] == "fgsm"
        assert record["eps"] == pytest.approx(EPS)
        (file,) = record["_files"]
        assert file["path"] == record["adversarial_png"] == f"adversarial/{record['key']}.png"
        adversarial = decode_png(file["data"]).astype(np.float32) / 255  # 8 bits: ±0.5/255
        assert np.abs(adversarial.transpose(2, 0, 1) - pixels).max() <= EPS + 0.5 / 255 + 1e-6
        assert record["linf"] <= EPS + 1e-6
        with torch.no_grad():
            before = int(model(torch.from_numpy(np.array(pixels))[None]).argmax())
        assert record["label_before"] == before
        assert record["success"] == (record["label_after_onnx"] != before)
        agree = record["label_after_onnx"] == record["label_after_torch"]
        assert record["engines_agree"] == agree


def test_a_rerun_of_the_same_batch_gives_the_same_rows(job: BulkJob, worker: ModelWorker) -> None:
    first, second = worker(batch(job)), worker(batch(job))
    assert first.drop_columns(["_adversarial"]).equals(second.drop_columns(["_adversarial"]))


def test_explaining_the_label_needs_one(tmp_path: Path) -> None:
    job = BulkJob("explain", "unused", tmp_path, method="grad_cam", target="label")
    images = batch(job)
    images["label"][0] = -1  # a decodable image without a label
    worker = ModelWorker(job, threads=2)
    try:
        records = worker(images).to_pylist()
    finally:
        worker.local.close()
    assert "no label" in records[0]["error"] and records[0]["map"] is None
    assert [r["target"] for r in records[1:5]] == [1, 2, 3, 4]
    assert all(len(r["map"]) == r["map_height"] * r["map_width"] > 0 for r in records[1:5])
    assert "cannot decode" in records[5]["error"]


def test_a_method_that_cannot_apply_stops_the_job_with_its_reason(tmp_path: Path) -> None:
    """Not one failed row per image: the driver finds the reason in what Ray hands back (the
    worker's exception as text) and stops."""
    job = BulkJob("explain", "unused", tmp_path, method="attention")
    worker = ModelWorker(job, threads=2)
    try:
        with pytest.raises(RuntimeError, match=re.escape(JOB_FAILED)) as failed:
            worker(batch(job))
    finally:
        worker.local.close()
    as_ray_shows_it = f"ray::MapWorker(...)\nTraceback ...\n{failed.value}\nmore text"
    reason = pipeline._job_error(RuntimeError(as_ray_shows_it))
    assert reason is not None and reason.startswith("attention maps need a vision transformer")
    assert pipeline._job_error(RuntimeError("an unrelated failure")) is None
