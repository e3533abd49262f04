"""The Parquet schema of each kind of job's results: one row per image.

Every row has the image's `key`, its `shard`, its source `path` (if it came from a file), its
`label` (null without one) and `error` (null when it was computed; else why it failed, and the
result columns are null). Columns whose names start with "_" travel between the pipeline's
stages only and are never written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

COMMON = [
    pa.field("key", pa.string(), nullable=False),
    pa.field("shard", pa.string(), nullable=False),
    pa.field("path", pa.string()),
    pa.field("label", pa.int64()),
    pa.field("error", pa.string()),
]
EXPLAIN = pa.schema([
    *COMMON,
    pa.field("method", pa.string()),
    pa.field("predicted_class", pa.int64()),
    pa.field("predicted_label", pa.string()),
    pa.field("target", pa.int64()),
    pa.field("target_label", pa.string()),
    # The raw map (as the server returns it) at the image's own size, row-major.
    pa.field("map", pa.list_(pa.float32())),
    pa.field("map_height", pa.int32()),
    pa.field("map_width", pa.int32()),
    pa.field("map_png", pa.string()),
    pa.field("overlay_png", pa.string()),
    pa.field("diagnostics", pa.map_(pa.string(), pa.float64())),
])
ATTACK = pa.schema([
    *COMMON,
    pa.field("method", pa.string()),
    pa.field("label_before", pa.int64()),
    pa.field("label_after_torch", pa.int64()),
    pa.field("label_after_onnx", pa.int64()),
    pa.field("success", pa.bool_()),
    pa.field("engines_agree", pa.bool_()),
    pa.field("linf", pa.float64()),
    pa.field("l2", pa.float64()),
    pa.field("eps", pa.float64()),
    pa.field("target_class", pa.int64()),
    pa.field("adversarial_png", pa.string()),
])
ATTACK_RUN = pa.struct([
    pa.field("attack", pa.string()),
    pa.field("eps", pa.float64()),
    pa.field("label_after_torch", pa.int64()),
    pa.field("label_after_onnx", pa.int64()),
])
STABILITY = pa.struct([
    pa.field("method", pa.string()),
    pa.field("attack", pa.string()),
    pa.field("eps", pa.float64()),
    pa.field("spearman", pa.float64()),
    pa.field("ssim", pa.float64()),
])
EVALUATE = pa.schema([
    *COMMON,
    pa.field("clean_class", pa.int64()),
    # Per attack and ε, the labels after it; stability only where the strongest attack flipped.
    pa.field("attacks", pa.list_(ATTACK_RUN)),
    pa.field("stability", pa.list_(STABILITY)),
])
SCHEMAS = {"explain": EXPLAIN, "attack": ATTACK, "evaluate": EVALUATE}
# Files a row asks the driver to write: (path relative to the output folder, bytes).
FILES = pa.field("_files", pa.list_(pa.struct([("path", pa.string()), ("data", pa.binary())])))


def table(
    schema: pa.Schema, rows: Sequence[Mapping[str, object]], extra: Sequence[pa.Field] = ()
) -> pa.Table:
    """Rows (missing columns null) as a table of `schema` plus the stage columns `extra`."""
    full = pa.schema([*schema, *extra])
    return pa.Table.from_pylist([dict(row) for row in rows], schema=full)
