"""The output folder of a bulk job, and the commit protocol that makes it resumable.

    OUTPUT/job.json              the job's definition and its shards (name, image count)
    OUTPUT/shards/NAME.parquet   one per finished shard: one row per image
    OUTPUT/maps/, overlays/, adversarial/   PNG files the rows name (relative paths)
    OUTPUT/report.json           the summary, over every shard
    OUTPUT/.partial/             shards being written

A shard's rows go to `.partial/NAME.parquet` as they arrive; when it holds every image of the
shard, it is renamed into `shards/` (one atomic rename). A run that is killed leaves at most
partial files, which the next run deletes and redoes; a shard in `shards/` is never redone.
So every image ends with exactly one row, however often the job is interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.parquet as pq

from saliency_service.bulk.job import BulkError, BulkJob
from saliency_service.bulk.sources import Shard

JOB_FILE = "job.json"


class Output:
    """The output folder of one job."""

    def __init__(self, job: BulkJob, shards: list[Shard]) -> None:
        self.root = job.output
        self.shards = {shard.name: shard for shard in shards}
        record = {"definition": job.definition(),
                  "shards": {s.name: s.images for s in shards}}
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / JOB_FILE
        if path.exists():
            _check_same(json.loads(path.read_text()), record)
        else:
            _write_atomically(path, json.dumps(record, indent=2).encode())
        shutil.rmtree(self.root / ".partial", ignore_errors=True)
        (self.root / ".partial").mkdir()
        (self.root / "shards").mkdir(exist_ok=True)

    def done(self) -> set[str]:
        """Names of the shards already written (by this run or an earlier one)."""
        return {p.stem for p in (self.root / "shards").glob("*.parquet")} & set(self.shards)

    def shard_files(self) -> list[Path]:
        return sorted((self.root / "shards").glob("*.parquet"))

    def write_files(self, files: Iterable[dict[str, object]]) -> None:
        """Write the PNG files rows name (paths relative to the output folder)."""
        for file in files:
            path = self.root / str(file["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(cast(bytes, file["data"]))


class ShardWriter:
    """Rows of one shard, appended to its partial file, committed once all are there."""

    def __init__(self, output: Output, shard: Shard, schema: pa.Schema) -> None:
        self.output, self.shard = output, shard
        self.partial = output.root / ".partial" / f"{shard.name}.parquet"
        self._writer = pq.ParquetWriter(self.partial, schema)
        self.rows = 0

    def write(self, rows: pa.Table) -> bool:
        """Append `rows`; commit the shard when it is complete. Returns whether it was.

        Raises:
            BulkError: more rows than the shard has images (the input changed under the job).
        """
        self._writer.write_table(rows)
        self.rows += rows.num_rows
        if self.rows > self.shard.images:
            raise BulkError(f"shard {self.shard.name} gave {self.rows} rows for "
                            f"{self.shard.images} images: did the data set change?")
        if self.rows < self.shard.images:
            return False
        self.commit()
        return True

    def commit(self) -> None:
        self._writer.close()
        os.replace(self.partial, self.output.root / "shards" / f"{self.shard.name}.parquet")


def _check_same(recorded: dict[str, object], record: dict[str, object]) -> None:
    if recorded["definition"] != record["definition"]:
        raise BulkError(
            "the output folder holds results of another job "
            f"({json.dumps(recorded['definition'])}); use a new folder"
        )
    if recorded["shards"] != record["shards"]:
        raise BulkError("the data set has changed since this output folder was started "
                        "(other shards or image counts); use a new folder")


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
