"""A bulk job as a Ray Data pipeline, and its results streamed into the output folder.

    shards ─▶ read and decode (CPU tasks) ─▶ model actors ─▶ encode PNGs (CPU tasks, if any)
           ─▶ the driver: rows into each shard's Parquet file, committed when complete

One actor per GPU when the cluster has GPUs, else CPU actors; each holds one model in the
server's engine (local_engine.py). Ray Data streams blocks between the stages with back
pressure, so memory stays bounded however large the data set. Rows come back in input order,
so shards finish one after another and an interrupted job loses at most the shards in flight.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from saliency_service.bulk.codec import Decode, Encode
from saliency_service.bulk.job import BulkError, BulkJob
from saliency_service.bulk.output import Output, ShardWriter
from saliency_service.bulk.report import Report, summarize, write_report
from saliency_service.bulk.schema import FILES, SCHEMAS
from saliency_service.bulk.sources import Shard, list_shards, read_shard
from saliency_service.bulk.worker import JOB_FAILED, ModelWorker

log = logging.getLogger(__name__)
ShardCallback = Callable[[str], None]
# Ray resources of a CPU task (reading and decoding a shard, encoding PNG files).
CODEC_CPUS = 0.5


class ReadShards:
    """Ray Data stage (CPU tasks): one shard name in, its images out, read and decoded."""

    def __init__(self, job: BulkJob, shards: dict[str, Shard]) -> None:
        self.source, self.shards = job.source, shards
        model = job.model_config()
        self.classes = model.labels
        self.decode = Decode(model, keep_images=job.overlays and job.kind == "explain")

    def __call__(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        for name in batch["shard"]:
            shard = self.shards[str(name)]
            for rows in read_shard(shard, self.source, self.classes):
                count = len(rows["key"])
                yield self.decode({
                    "key": np.array(rows["key"], dtype=object),
                    "shard": np.array([shard.name] * count, dtype=object),
                    "path": np.array(rows["path"], dtype=object),
                    "image": np.array(rows["image"], dtype=object),
                    "label": np.array(rows["label"], dtype=np.int64),
                })


def run_bulk(
    job: BulkJob,
    *,
    address: str | None = None,
    progress: bool = True,
    on_shard: ShardCallback | None = None,
    ray_init: dict[str, Any] | None = None,
) -> Report:
    """Run `job` (the shards not yet written), then write and return its report.

    Args:
        address: a Ray cluster ("ray://head:10001", "auto"); None uses RAY_ADDRESS if set,
            else starts a local Ray instance.
        progress: show a progress bar (on stderr).
        on_shard: called with each shard's name once it is written.
        ray_init: further arguments of `ray.init` for a local instance (num_cpus, ...).

    Raises:
        BulkError: the job, its data set or its output folder cannot be used.
    """
    job.check()
    shards = list_shards(job.source, job.shard_size)
    output = Output(job, shards)
    done = output.done()
    pending = [shard for shard in shards if shard.name not in done]
    started = time.monotonic()
    for shard in [s for s in pending if s.images == 0]:
        ShardWriter(output, shard, SCHEMAS[job.kind]).commit()
    pending = [s for s in pending if s.images]
    if pending:
        _connect(address, ray_init or {})
        try:
            _process(job, output, pending, progress, on_shard or (lambda _name: None))
        except Exception as error:
            reason = _job_error(error)
            if reason is None:
                raise
            raise BulkError(f"the job cannot run: {reason}") from None
        finally:
            import ray

            ray.shutdown()
    (output.root / ".partial").rmdir()  # empty: every shard was committed
    seconds = time.monotonic() - started
    report = summarize(job.kind, output.shard_files(), job.definition())
    run_images = sum(s.images for s in pending)
    report |= {"run_images": run_images, "run_seconds": seconds,
               "images_per_second": run_images / seconds if seconds > 0 else 0.0}
    write_report(report, output.root / "report.json")
    return report


def _connect(address: str | None, settings: dict[str, Any]) -> None:
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address:
        # A local instance serves this process alone: Ray's single-machine mode keeps every
        # one of its servers on the loopback interface (read when ray is imported; its
        # workers inherit it).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(include_dashboard=False, **quiet, **settings)


def _job_error(error: BaseException) -> str | None:
    """The message of a whole-job failure behind a failed stage (worker.JOB_FAILED), if that is
    what failed it: Ray carries a stage's exception to the driver as text."""
    found = re.search(re.escape(JOB_FAILED) + r" (.+)", str(error))
    return found.group(1).strip() if found else None


def _process(
    job: BulkJob, output: Output, pending: list[Shard], progress: bool, on_shard: ShardCallback
) -> None:
    import ray
    import ray.data
    from tqdm import tqdm

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    gpus = int(resources.get("GPU", 0))
    actors = job.actors or gpus or 1
    # CPU actors share a single machine's cores; on a cluster each takes its node's.
    single = len(ray.nodes()) == 1  # type: ignore[no-untyped-call]
    cores = os.cpu_count() or 1
    threads = job.threads or (max(1, cores // actors) if single else cores)
    names = ray.data.from_items([{"shard": s.name} for s in pending],
                                override_num_blocks=len(pending))
    dataset = (
        names.map_batches(ReadShards(job, {s.name: s for s in pending}), batch_size=1,
                          num_cpus=CODEC_CPUS)
        .map_batches(ModelWorker, fn_constructor_args=(job, threads), batch_size=job.batch_size,
                     compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1,
                     num_gpus=1 if gpus else 0)
    )
    if Encode.needed(job):
        dataset = dataset.map_batches(Encode(job), batch_format="pyarrow", num_cpus=CODEC_CPUS)
    by_name = {s.name: s for s in pending}
    writers: dict[str, ShardWriter] = {}
    schema = SCHEMAS[job.kind]
    with tqdm(total=sum(s.images for s in pending), unit="image", disable=not progress,
              desc=f"{job.kind} {job.method or 'evaluate'}") as bar:
        for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            rows = cast(pa.Table, batch)
            if FILES.name in rows.column_names:
                files = rows.column(FILES.name).to_pylist()
                output.write_files(file for row_files in files for file in row_files)
            rows = rows.select(schema.names).cast(schema)
            for name in pc.unique(rows.column("shard")).to_pylist():
                part = rows.filter(pc.equal(rows.column("shard"), name))
                if name not in writers:
                    writers[name] = ShardWriter(output, by_name[name], schema)
                writer = writers[name]
                if writer.write(part):
                    del writers[name]
                    bar.write(f"shard {name}: {by_name[name].images} images written")
                    on_shard(name)
            bar.update(rows.num_rows)
    if writers:
        missing = ", ".join(sorted(writers))
        raise BulkError(f"the pipeline ended before shards {missing} were complete")
    # Where the time went, stage by stage (Ray Data's own account), for the operator.
    (output.root / "ray-data-stats.txt").write_text(dataset.stats())

