"""Demo data sets on disk, for trying bulk jobs: shapes images as a folder tree, Parquet or
WebDataset shards, labelled the way `saliency bulk` reads labels.

    python -m saliency_service.demo.datasets demo-data/ --images 1000 --format webdataset
"""

from __future__ import annotations

import argparse
import io
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from saliency_client.png import encode_png

from saliency_service.demo.shapes import CLASSES, generate

FORMATS = ("folder", "parquet", "webdataset")


def write_dataset(
    root: Path, images: int, *, seed: int = 0, shards: int = 1, data_format: str = "folder",
    labels: Sequence[int] | None = None,
) -> list[str]:
    """Write `images` fresh demo images under `root`; return their keys as bulk jobs name them.

    Args:
        shards: Parquet or tar files to spread the images over (a folder tree is one tree).
        labels: the label written for each image (default: its true class); tests give some
            images a wrong one.
    """
    batch = generate(images, seed=seed)
    given = list(batch.labels if labels is None else labels)
    encoded = [encode_png(image) for image in batch.images]
    root.mkdir(parents=True, exist_ok=True)
    parts = np.array_split(np.arange(images), shards)
    keys: list[str] = []
    for shard, indices in enumerate(parts):
        name = f"shard-{shard:05d}"
        if data_format == "folder":
            for i in indices:
                path = root / CLASSES[given[i]] / f"image-{i:06d}.png"
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(encoded[i])
                keys.append(path.relative_to(root).as_posix())
        elif data_format == "parquet":
            table = pa.table({
                "key": [f"image-{i:06d}" for i in indices],
                "image": pa.array([encoded[i] for i in indices], pa.binary()),
                "label": pa.array([CLASSES[given[i]] for i in indices]),
            })
            pq.write_table(table, root / f"{name}.parquet")
            keys += [f"image-{i:06d}" for i in indices]
        else:
            with tarfile.open(root / f"{name}.tar", "w") as tar:
                for i in indices:
                    _add(tar, f"image-{i:06d}.png", encoded[i])
                    _add(tar, f"image-{i:06d}.cls", str(given[i]).encode())
            keys += [f"{name}/image-{i:06d}" for i in indices]
    return keys


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=FORMATS, default="webdataset")
    args = parser.parse_args(argv)
    write_dataset(args.root, args.images, seed=args.seed, shards=args.shards,
                  data_format=args.format)
    print(f"wrote {args.images} images to {args.root} ({args.format})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
