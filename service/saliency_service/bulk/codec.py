"""The CPU stages beside the model actors: decoding images before, encoding PNG files after.

Decoding is the server's own (operations/inputs.py): the same image gives the same pixels, so
the same map. An image that cannot be decoded keeps its row with the error and zero pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from saliency_client.overlay import normalize_heatmap, overlay_heatmap
from saliency_client.png import encode_png

from saliency_service.bulk.job import BulkJob
from saliency_service.bulk.schema import FILES, SCHEMAS
from saliency_service.errors import InvalidRequest
from saliency_service.images import to_pixels
from saliency_service.models.config import ModelConfig
from saliency_service.operations.inputs import config_input

Batch = dict[str, Any]
# The server's default limit on decoded pixels (config.py), against decompression bombs.
MAX_PIXELS = 4096 * 4096


class Decode:
    """Encoded images → pixels at the model's input size, and each image's size (run by the
    reading tasks, pipeline.ReadShards)."""

    def __init__(self, model: ModelConfig, keep_images: bool) -> None:
        self.model = model
        self.keep_images = keep_images

    def __call__(self, batch: Batch) -> Batch:
        config = self.model
        count = len(batch["key"])
        pixels = np.zeros((count, config.channels, config.height, config.width), np.float32)
        sizes = np.zeros((count, 2), np.int32)
        errors = []
        for i, image in enumerate(batch["image"]):
            try:
                decoded, size = config_input(config, bytes(image), MAX_PIXELS)
            except InvalidRequest as error:
                errors.append(str(error))
                continue
            pixels[i] = decoded.numpy()
            sizes[i] = size
            errors.append("")
        out = {name: batch[name] for name in ("key", "shard", "path", "label")}
        out |= {"pixels": pixels, "height": sizes[:, 0], "width": sizes[:, 1],
                "error": np.array(errors, dtype=object)}
        if self.keep_images:
            out["image"] = batch["image"]
        return out


class Encode:
    """Ray Data stage: result rows → the written schema, and the PNG files they point to."""

    def __init__(self, job: BulkJob) -> None:
        self.job = job

    @staticmethod
    def needed(job: BulkJob) -> bool:
        """Whether the job writes files (else its rows go to Parquet as the actors made them)."""
        return job.overlays or (job.kind == "explain" and job.maps != "array")

    def __call__(self, rows: pa.Table) -> pa.Table:
        schema = pa.schema([*SCHEMAS[self.job.kind], FILES])
        records = rows.to_pylist()
        for record in records:
            files: list[dict[str, object]] = []
            stem = file_stem(record["key"])
            if self.job.kind == "explain":
                self._explain(record, stem, files)
            elif record.get("_adversarial") is not None:
                pixels = np.asarray(record["_adversarial"], np.float32).reshape(self._shape())
                path = f"adversarial/{stem}.png"
                files.append({"path": path, "data": encode_png(_uint8(pixels.transpose(1, 2, 0)))})
                record["adversarial_png"] = path
            record["_files"] = files
        return pa.Table.from_pylist(records, schema=schema)

    def _shape(self) -> tuple[int, int, int]:
        config = self.job.model_config()
        return config.channels, config.height, config.width

    def _explain(self, record: dict[str, Any], stem: str, files: list[dict[str, object]]) -> None:
        if record["map"] is None or not record["map_height"]:
            record["map"] = None
            return
        heatmap = np.asarray(record["map"], np.float32).reshape(
            record["map_height"], record["map_width"]
        )
        if self.job.maps != "array":
            record["map"] = None
        if self.job.maps == "png":
            path = f"maps/{stem}.png"
            files.append({"path": path, "data": encode_png(_uint8(normalize_heatmap(heatmap)))})
            record["map_png"] = path
        if self.job.overlays and record.get("_image"):
            image = to_pixels(record["_image"], 3, MAX_PIXELS).permute(1, 2, 0).numpy()
            path = f"overlays/{stem}.png"
            files.append({"path": path, "data": encode_png(overlay_heatmap(image, heatmap))})
            record["overlay_png"] = path


def file_stem(key: str) -> str:
    """A relative file path (without suffix) for a row's key: its folders kept, nothing that
    could climb out of the output folder or name a hidden file."""
    parts = []
    for part in key.replace("\\", "/").split("/"):
        clean = "".join(c if c.isalnum() or c in "-_." else "_" for c in part).lstrip(".")
        if clean:
            parts.append(clean)
    if not parts:
        return "_"
    parts[-1] = parts[-1].rsplit(".", 1)[0] or "_"
    return "/".join(parts)


def _uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(values, np.float64) * 255.0), 0, 255).astype(np.uint8)
