"""`saliency bulk` on a real local Ray cluster: interrupted after its first shard, resumed,
and checked against the server and against a direct computation.

The data set: 200 fresh demo images in two WebDataset shards, a tenth of them labelled with
a wrong class (so accuracy is not trivially 1) and two that are not images at all (they must
fail alone). The first run is a driver that stops, held by a gate, right after its first shard
is written, and is then killed (SIGKILL, no clean-up); the rerun is `saliency bulk explain`.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from saliency_client import SaliencyClient
from saliency_service.config import DEMO_REPOSITORY
from saliency_service.demo.datasets import write_dataset
from saliency_service.demo.shapes import CLASSES, generate

from tests.integration.ray_cluster import RayHead, ray_environment
from tests.integration.server_process import wait_until
from tests.serving import ServerThread

pytestmark = pytest.mark.integration

IMAGES, SHARDS, SEED = 200, 2, 16
BROKEN = {5, 160}  # one in each shard
METHOD = "grad_cam"
# The first run's driver: run the job, and after the first shard is written, say so and wait
# for a release that never comes (the test kills it there).
GATED_DRIVER = """
import sys, time
from pathlib import Path
from saliency_service.bulk import BulkJob, run_bulk

source, output, address, marker = sys.argv[1:]

def hold(shard):
    Path(marker).write_text(shard)
    time.sleep(600)

run_bulk(BulkJob("explain", source, Path(output), method="grad_cam", batch_size=40),
         address=address, progress=False, on_shard=hold)
"""


def true_labels() -> np.ndarray:
    return generate(IMAGES, seed=SEED).labels


def given_labels() -> list[int]:
    """A tenth of the images get the next class instead of their own (seeded)."""
    wrong = set(np.random.default_rng(SEED).choice(IMAGES, IMAGES // 10, replace=False).tolist())
    return [(int(y) + 1) % len(CLASSES) if i in wrong else int(y)
            for i, y in enumerate(true_labels())]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """The tar shards, and every sample's image bytes by key (as the bulk job names it)."""
    root = tmp_path_factory.mktemp("data")
    keys = write_dataset(root, IMAGES, seed=SEED, shards=SHARDS, data_format="webdataset",
                         labels=given_labels())
    images: dict[str, bytes] = {}
    for tar_path in sorted(root.glob("*.tar")):
        members = {}
        with tarfile.open(tar_path) as tar:
            for member in tar:
                members[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
        for name, data in members.items():
            if name.endswith(".png"):
                images[f"{tar_path.stem}/{name[:-4]}"] = data
        _rewrite(tar_path, members, {keys[i].split("/")[1] for i in BROKEN})
    for i in BROKEN:
        images[keys[i]] = b"not an image"
    assert sorted(images) == sorted(keys)
    return root, images


def _rewrite(tar_path: Path, members: dict[str, bytes], broken: set[str]) -> None:
    with tarfile.open(tar_path, "w") as tar:
        for name, data in members.items():
            if name.endswith(".png") and name[:-4] in broken:
                data = b"not an image"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    with RayHead(tmp_path_factory.mktemp("ray")) as head:
        yield head


@pytest.fixture(scope="module")
def results(
    dataset: tuple[Path, dict[str, bytes]],
    ray_head: RayHead,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """Run 1, killed after its first shard; run 2, `saliency bulk explain`, to the end."""
    source, _ = dataset
    output = tmp_path_factory.mktemp("out")
    marker = output.parent / "first-shard-written"
    with (output.parent / "run1.log").open("w") as log:
        driver = subprocess.Popen(
            [sys.executable, "-c", GATED_DRIVER, str(source), str(output), ray_head.address,
             str(marker)],
            env=ray_environment(), start_new_session=True, stdout=subprocess.DEVNULL, stderr=log,
        )
    try:
        assert wait_until(lambda: marker.exists() or driver.poll() is not None, timeout=240), \
            "the first shard was never written"
        assert driver.poll() is None, (output.parent / "run1.log").read_text()[-3000:]
        written = sorted(p.name for p in (output / "shards").glob("*.parquet"))
        assert written == ["shard-00000.parquet"]
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(30)
    rerun = subprocess.run(
        [str(Path(sys.executable).with_name("saliency")), "bulk", "explain", str(source),
         "-o", str(output), "--method", METHOD, "--address", ray_head.address,
         "--batch-size", "40", "--no-progress"],
        env=ray_environment(), capture_output=True, text=True, timeout=300, check=False,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{IMAGES} images in {SHARDS} shards" in rerun.stdout
    assert "shard shard-00000" not in rerun.stderr  # the written shard was not redone
    return output


def rows(output: Path) -> list[dict[str, object]]:
    found = []
    for path in sorted((output / "shards").glob("*.parquet")):
        found += pq.read_table(path).to_pylist()
    return found


def test_every_image_has_exactly_one_row(
    results: Path, dataset: tuple[Path, dict[str, bytes]]
) -> None:
    _, images = dataset
    keys = [row["key"] for row in rows(results)]
    assert len(keys) == len(set(keys)) == IMAGES
    assert set(keys) == set(images)
    assert not list((results / ".partial").glob("*"))


def test_images_that_are_not_images_fail_alone(results: Path) -> None:
    found = {row["key"]: row for row in rows(results)}
    failed = {key: row for key, row in found.items() if row["error"] is not None}
    assert len(failed) == len(BROKEN)
    for row in failed.values():
        assert "cannot decode image" in str(row["error"]) and row["map"] is None
    report = json.loads((results / "report.json").read_text())
    assert (report["images"], report["computed"], report["failed"]) == (
        IMAGES, IMAGES - len(BROKEN), len(BROKEN))


def test_maps_equal_the_servers_for_the_same_image_and_parameters(
    results: Path, dataset: tuple[Path, dict[str, bytes]]
) -> None:
    _, images = dataset
    found = [row for row in rows(results) if row["error"] is None]
    sample = found[:: len(found) // 24][:24]  # both shards
    assert {row["shard"] for row in sample} == {"shard-00000", "shard-00001"}
    server = ServerThread(DEMO_REPOSITORY)
    try:
        with SaliencyClient(server.target, timeout=120) as client:
            answers = client.explain([images[str(row["key"])] for row in sample],
                                     model="shapes", method=METHOD)
    finally:
        server.stop()
    for row, answer in zip(sample, answers, strict=True):
        answer.raise_for_error()
        expected = answer.explanations[0].heatmap
        got = np.asarray(row["map"], np.float32).reshape(row["map_height"], row["map_width"])
        assert got.shape == expected.shape
        assert row["predicted_class"] == answer.predicted_class
        assert row["target"] == answer.explanations[0].target
        scale = float(np.abs(expected).max())
        assert scale > 0
        assert float(np.abs(got - expected).max()) <= 1e-5 * scale, row["key"]


def test_report_accuracy_equals_a_direct_computation(
    results: Path, dataset: tuple[Path, dict[str, bytes]]
) -> None:
    """The model's own predictions (torch, in this process) against the labels written."""
    import torch
    from saliency_service.images import resize, to_pixels
    from saliency_service.models.classifier import Classifier
    from saliency_service.models.config import read_model_config
    from saliency_service.models.loading import load_network

    _, images = dataset
    config = read_model_config(DEMO_REPOSITORY / "shapes")
    model = Classifier(load_network(config), config.mean, config.std).eval()
    labels = given_labels()
    hits = []
    for i, y in enumerate(labels):
        if i in BROKEN:
            continue
        key = f"shard-{int(i >= IMAGES // SHARDS):05d}/image-{i:06d}"
        pixels = resize(to_pixels(images[key], 3, 1 << 24), config.height, config.width)
        with torch.no_grad():
            hits.append(int(model(pixels[None]).argmax()) == y)
    direct = sum(hits) / len(hits)
    assert 0.5 < direct < 1.0  # the wrong labels count
    report = json.loads((results / "report.json").read_text())
    assert report["accuracy"] == pytest.approx(direct, abs=1e-12)

