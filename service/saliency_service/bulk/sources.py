"""Data sets as shards: a folder tree of images, Parquet tables, WebDataset tar files.

A shard is the unit of resumption: its results are written, and committed, as one Parquet file.
Parquet and tar files are one shard each; a folder tree is cut into shards of `shard_size`
images in the order of their relative paths, so the same tree always gives the same shards.

Labels, where the data set has them: a folder tree's first sub-folder (a class name of the
model, or a class number), a Parquet `label` column (number or class name), a WebDataset
sample's `.cls` member. Keys (the row's identity): a folder tree's relative path, a Parquet
`key` column (else `<shard>/<row number>`), a WebDataset sample's `<shard>/<__key__>`.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import pyarrow.parquet as pq

from saliency_service.bulk.job import BulkError

Format = Literal["folder", "parquet", "webdataset"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Rows per batch a shard reader hands on.
READ_ROWS = 64
NO_LABEL = -1
Rows = dict[str, list[object]]


@dataclass(frozen=True)
class Shard:
    """One shard: its name (unique, used for its result file), what it reads, how many images."""

    name: str
    format: Format
    files: tuple[str, ...]
    images: int


def list_shards(source: str, shard_size: int) -> list[Shard]:
    """Every shard of the data set at `source`, in a stable order.

    Raises:
        BulkError: nothing readable is there.
    """
    root = Path(source)
    if root.is_file():
        files, base = [root], root.parent
    elif root.is_dir():
        files, base = sorted(p for p in root.rglob("*") if p.is_file()), root
    else:
        raise BulkError(f"the data set {source!r} does not exist")
    tars = [p for p in files if p.suffix == ".tar"]
    tables = [p for p in files if p.suffix == ".parquet"]
    if tars:
        return [_tar_shard(p, base) for p in tars]
    if tables:
        return [_parquet_shard(p, base) for p in tables]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise BulkError(f"{source!r} holds no images, Parquet files or WebDataset tar files")
    return [
        Shard(f"part-{i // shard_size:05d}", "folder",
              tuple(str(p) for p in images[i : i + shard_size]), len(images[i : i + shard_size]))
        for i in range(0, len(images), shard_size)
    ]


def _shard_name(path: Path, base: Path) -> str:
    relative = path.relative_to(base).with_suffix("")
    return "__".join(relative.parts)


def _parquet_shard(path: Path, base: Path) -> Shard:
    metadata = pq.ParquetFile(path).metadata
    return Shard(_shard_name(path, base), "parquet", (str(path),), metadata.num_rows)


def _tar_shard(path: Path, base: Path) -> Shard:
    with tarfile.open(path) as tar:
        keys = {_sample(m.name)[0] for m in tar.getmembers()
                if m.isfile() and _sample(m.name)[1] in _WDS_IMAGES}
    return Shard(_shard_name(path, base), "webdataset", (str(path),), len(keys))


def read_shard(shard: Shard, root: str, classes: Sequence[str]) -> Iterator[Rows]:
    """The shard's images as batches of rows: key, path, image (encoded bytes), label.

    A row whose file cannot be read has empty image bytes; decoding then fails it alone.
    """
    readers = {"folder": _read_folder, "parquet": _read_parquet, "webdataset": _read_tar}
    rows: Rows = {"key": [], "path": [], "image": [], "label": []}
    for key, path, image, label in readers[shard.format](shard, Path(root), classes):
        for column, value in zip(rows, (key, path, image, label), strict=True):
            rows[column].append(value)
        if len(rows["key"]) == READ_ROWS:
            yield rows
            rows = {name: [] for name in rows}
    if rows["key"]:
        yield rows


Row = tuple[str, str, bytes, int]


def _read_folder(shard: Shard, root: Path, classes: Sequence[str]) -> Iterator[Row]:
    base = root if root.is_dir() else root.parent
    for name in shard.files:
        path = Path(name)
        relative = path.relative_to(base)
        folder = relative.parts[0] if len(relative.parts) > 1 else ""
        yield relative.as_posix(), str(path), _read_bytes(path), label_of(folder, classes)


def _read_parquet(shard: Shard, root: Path, classes: Sequence[str]) -> Iterator[Row]:
    path = Path(shard.files[0])
    table = pq.ParquetFile(path)
    columns = set(table.schema_arrow.names)
    if not {"image", "path"} & columns:
        raise BulkError(f"{path.name}: a Parquet data set needs an 'image' or a 'path' column")
    wanted = [c for c in ("key", "image", "path", "label") if c in columns]
    row = 0
    for batch in table.iter_batches(batch_size=READ_ROWS, columns=wanted):
        values = batch.to_pydict()
        for i in range(batch.num_rows):
            key = str(values["key"][i]) if "key" in values else f"{shard.name}/{row}"
            image_path = values["path"][i] if "path" in values else None
            image = values["image"][i] if "image" in values else None
            if image is None and image_path is not None:
                image = _read_bytes(path.parent / str(image_path))
            label = label_of(values["label"][i], classes) if "label" in values else NO_LABEL
            yield key, str(image_path or ""), bytes(image or b""), label
            row += 1


# WebDataset: a sample is the tar members sharing a key (the path up to the first dot of the
# file name); its image is the member with one of these extensions.
_WDS_IMAGES = ("png", "jpg", "jpeg")


def _sample(member: str) -> tuple[str, str]:
    path = PurePosixPath(member)
    stem, _, extension = path.name.partition(".")
    return str(path.parent / stem), extension.lower()


def _read_tar(shard: Shard, root: Path, classes: Sequence[str]) -> Iterator[Row]:
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(shard.files[0]) as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, extension = _sample(member.name)
            handle = tar.extractfile(member)
            samples.setdefault(key, {})[extension] = handle.read() if handle else b""
    for key, sample in samples.items():
        image = next((sample[e] for e in _WDS_IMAGES if e in sample), None)
        if image is None:
            continue
        label = label_of(sample["cls"].decode().strip(), classes) if "cls" in sample else NO_LABEL
        yield f"{shard.name}/{key}", "", image, label


def label_of(value: object, classes: Sequence[str]) -> int:
    """A class index from a class name or number; NO_LABEL for none or one the model lacks."""
    if value is None or value == "":
        return NO_LABEL
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < len(classes) else NO_LABEL
    text = str(value)
    if text in classes:
        return classes.index(text)
    return label_of(int(text), classes) if text.isdigit() else NO_LABEL


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""

