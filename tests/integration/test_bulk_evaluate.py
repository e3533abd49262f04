"""A bulk robustness report (the model actor's rows, summed up by the report) against the
server's Evaluate on the same labelled images: the same accuracy under attack, by torch and by
ONNX Runtime, and the same map stability. Without Ray: its plumbing is the explain test's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from saliency_client import SaliencyClient
from saliency_client.png import encode_png
from saliency_service.bulk.codec import Decode
from saliency_service.bulk.job import BulkJob
from saliency_service.bulk.report import summarize
from saliency_service.bulk.schema import EVALUATE
from saliency_service.bulk.worker import ModelWorker
from saliency_service.config import DEMO_REPOSITORY
from saliency_service.demo.shapes import generate

from tests.serving import ServerThread

pytestmark = pytest.mark.integration

IMAGES = 24
EPSILONS = (1 / 255, 8 / 255)


def test_a_bulk_evaluation_reports_what_the_servers_evaluate_does(tmp_path: Path) -> None:
    shapes = generate(IMAGES, seed=21)
    images = [encode_png(image) for image in shapes.images]
    labels = [int(label) for label in shapes.labels]
    job = BulkJob("evaluate", "unused", tmp_path, attacks=(("fgsm", {}),), epsilons=EPSILONS,
                  stability_methods=("vanilla_gradient",))
    batch = Decode(job.model_config(), keep_images=False)({
        "key": np.array([f"k{i}" for i in range(IMAGES)], dtype=object),
        "shard": np.array(["s"] * IMAGES, dtype=object),
        "path": np.array([""] * IMAGES, dtype=object),
        "image": np.array(images, dtype=object),
        "label": np.array(labels, dtype=np.int64),
    })
    worker = ModelWorker(job, threads=2)
    try:
        rows = worker(batch)
    finally:
        worker.local.close()
    pq.write_table(rows.select(EVALUATE.names).cast(EVALUATE), tmp_path / "s.parquet")
    bulk = summarize("evaluate", [tmp_path / "s.parquet"], job.definition())

    server = ServerThread(DEMO_REPOSITORY)
    try:
        with SaliencyClient(server.target, timeout=300) as client:
            report = client.evaluate(images, labels, model="shapes", attacks={"fgsm": {}},
                                     epsilons=list(EPSILONS),
                                     stability_methods=["vanilla_gradient"])
    finally:
        server.stop()
    assert bulk["clean_accuracy"] == report.clean_accuracy
    (curve,) = report.curves
    assert [c["eps"] for c in bulk["curves"]] == pytest.approx(curve.epsilons)
    assert [c["accuracy"] for c in bulk["curves"]] == curve.accuracy
    assert [c["onnx_accuracy"] for c in bulk["curves"]] == curve.onnx_accuracy
    assert curve.accuracy[-1] < curve.accuracy[0]  # the figures say something
    (stability,) = report.stability
    (bulk_stability,) = bulk["stability"]
    assert bulk_stability["images"] == len(stability.spearman) > 0
    assert bulk_stability["spearman_mean"] == pytest.approx(np.mean(stability.spearman), abs=1e-5)
    assert bulk_stability["ssim_mean"] == pytest.approx(np.mean(stability.ssim), abs=1e-5)
