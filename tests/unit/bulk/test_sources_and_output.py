"""Bulk jobs without Ray: reading the three data set formats, the output folder's commit
protocol, and file names made from keys."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from saliency_service.bulk.codec import file_stem
from saliency_service.bulk.job import BulkError, BulkJob
from saliency_service.bulk.output import Output, ShardWriter
from saliency_service.bulk.schema import EXPLAIN
from saliency_service.bulk.sources import list_shards, read_shard
from saliency_service.demo.datasets import FORMATS, write_dataset
from saliency_service.demo.shapes import CLASSES, generate

IMAGES = 12


@pytest.mark.parametrize("data_format", FORMATS)
def test_every_format_gives_each_image_once_with_its_key_bytes_and_label(
    tmp_path: Path, data_format: str
) -> None:
    labels = [(i * 5) % len(CLASSES) for i in range(IMAGES)]
    keys = write_dataset(tmp_path, IMAGES, seed=3, shards=2, data_format=data_format,
                         labels=labels)
    shards = list_shards(str(tmp_path), shard_size=5)
    assert sum(s.images for s in shards) == IMAGES
    assert len(shards) == (3 if data_format == "folder" else 2)
    seen: dict[str, tuple[bytes, int]] = {}
    for shard in shards:
        rows = [r for batch in read_shard(shard, str(tmp_path), CLASSES)
                for r in zip(batch["key"], batch["image"], batch["label"], strict=True)]
        assert len(rows) == shard.images
        seen |= {str(k): (bytes(image), int(label)) for k, image, label in rows}  # type: ignore[call-overload]
    assert sorted(seen) == sorted(keys)
    images = generate(IMAGES, seed=3).images
    for i, key in enumerate(keys):
        data, label = seen[key]
        assert label == labels[i]
        assert data.startswith(b"\x89PNG") and len(data) > images[i].size // 10


def test_nothing_readable_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BulkError, match="holds no images"):
        list_shards(str(tmp_path), 10)
    with pytest.raises(BulkError, match="does not exist"):
        list_shards(str(tmp_path / "missing"), 10)


def _job(tmp_path: Path, **changes: object) -> BulkJob:
    settings: dict[str, object] = {"method": "grad_cam", **changes}
    return BulkJob("explain", str(tmp_path / "data"), tmp_path / "out", **settings)  # type: ignore[arg-type]


def _rows(shard: str, count: int) -> pa.Table:
    return pa.Table.from_pylist(
        [{"key": f"{shard}/{i}", "shard": shard} for i in range(count)], schema=EXPLAIN
    )


def test_a_shard_is_visible_only_once_complete_and_a_rerun_redoes_partial_ones(
    tmp_path: Path,
) -> None:
    write_dataset(tmp_path / "data", 6, shards=2, data_format="webdataset")
    shards = list_shards(str(tmp_path / "data"), 100)
    output = Output(_job(tmp_path), shards)
    first, second = (ShardWriter(output, s, EXPLAIN) for s in shards)
    assert not first.write(_rows(shards[0].name, 2))
    assert output.done() == set()
    assert first.write(_rows(shards[0].name, 1))
    assert not second.write(_rows(shards[1].name, 1))  # then the run is killed
    assert output.done() == {shards[0].name}
    again = Output(_job(tmp_path), shards)  # the rerun
    assert again.done() == {shards[0].name}
    assert not list((tmp_path / "out" / ".partial").iterdir())
    with pytest.raises(BulkError, match="did the data set change"):
        ShardWriter(again, shards[1], EXPLAIN).write(_rows(shards[1].name, 4))


def test_a_rerun_must_ask_for_the_same_job_over_the_same_data(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", 4, data_format="folder")
    shards = list_shards(str(tmp_path / "data"), 100)
    Output(_job(tmp_path), shards)
    assert json.loads((tmp_path / "out" / "job.json").read_text())["definition"]["method"] \
        == "grad_cam"
    with pytest.raises(BulkError, match="results of another job"):
        Output(_job(tmp_path, params={"layer": "features.10"}), shards)
    write_dataset(tmp_path / "data", 5, seed=1, data_format="folder")
    with pytest.raises(BulkError, match="data set has changed"):
        Output(_job(tmp_path), list_shards(str(tmp_path / "data"), 100))


def test_bad_methods_and_parameters_are_refused_before_ray_starts(tmp_path: Path) -> None:
    with pytest.raises(BulkError, match="not implemented"):
        _job(tmp_path, method="magic").check()
    with pytest.raises(BulkError, match="unknown parameter"):
        _job(tmp_path, params={"stepz": 3}).check()
    with pytest.raises(BulkError, match="no model named"):
        _job(tmp_path, model="nope").model_config()
    with pytest.raises(BulkError, match="has no layer 'features.99'; valid: .*features.18"):
        _job(tmp_path, params={"layer": "features.99"}).check()
    _job(tmp_path, params={"layer": "features.18"}).check()


@pytest.mark.parametrize(
    ("key", "stem"),
    [("circle/image-1.png", "circle/image-1"), ("../../etc/passwd", "etc/passwd"),
     ("/abs/a b.jpg", "abs/a_b"), (".hidden", "hidden"), ("", "_")],
)
def test_file_names_from_keys_stay_inside_the_output_folder(key: str, stem: str) -> None:
    assert file_stem(key) == stem
