"""A data set on disk: one sub-folder per class, masks and boxes beside the images.

    root/<class>/<name>.png|.jpg|.jpeg     the image (decoded as the server decodes requests:
                                          EXIF orientation, transparency over white)
    root/<class>/<name>.mask.png           optional: the object's mask (non-zero = object)
    root/<class>/<name>.boxes.json         optional: [[x0, y0, x1, y1], ...] in the image's
                                          pixels, x1 and y1 exclusive

A mask, else the union of the boxes, is the image's weak saliency map. Classes are the sorted
sub-folder names. With `root/train/` and `root/val/` the split is given; otherwise
`split` draws one, fixed by its seed. Images are resized to the model's input (bilinear,
antialiased, as the server resizes), masks by nearest neighbour, boxes by scaling.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image, ImageOps
from torch import Tensor
from torch.nn import functional as F

from saliency_service.images import resize, to_pixels
from saliency_service.training.data import LabelledImages, Sample
from saliency_service.training.perturbations import boxes_region, weak_saliency

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MASK_SUFFIX = ".mask.png"
BOXES_SUFFIX = ".boxes.json"
MAX_PIXELS = 1 << 26


class FolderImages(LabelledImages):
    """The images under `root` (one sub-folder per class), read when a sample is asked for."""

    def __init__(self, root: Path, size: tuple[int, int], channels: int = 3,
                 classes: tuple[str, ...] | None = None) -> None:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        self.classes = classes or tuple(p.name for p in folders)
        known = set(self.classes)
        self.files = [
            (path, self.classes.index(folder.name))
            for folder in folders if folder.name in known
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.endswith(MASK_SUFFIX)
        ]
        if not self.files:
            suffixes = ", ".join(IMAGE_SUFFIXES)
            raise ValueError(f"{root}: no images ({suffixes}) in class sub-folders")
        self.size, self.channels = size, channels
        self.missing = [path for path, _ in self.files if _region_files(path) == (None, None)]
        self.has_saliency = not self.missing

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Sample:
        path, label = self.files[index]
        height, width = self.size
        pixels = to_pixels(path.read_bytes(), self.channels, MAX_PIXELS)
        image = resize(pixels, height, width).clamp(0, 1)
        region = _region(path, pixels.shape[1:], self.size)
        saliency = None if region is None else weak_saliency(region)[None]
        return Sample(image, label, saliency)


class Subset(LabelledImages):
    """Some of another data set's samples, by index."""

    def __init__(self, images: LabelledImages, indices: list[int]) -> None:
        self.base, self.indices = images, indices
        self.classes, self.has_saliency = images.classes, images.has_saliency

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.base[self.indices[index]]


def read_folder(root: Path, size: tuple[int, int], channels: int = 3, val_fraction: float = 0.1,
                seed: int = 0) -> tuple[LabelledImages, LabelledImages]:
    """The training and validation images under `root` (its own split, else a seeded one)."""
    if (root / "train").is_dir() and (root / "val").is_dir():
        train = FolderImages(root / "train", size, channels)
        return train, FolderImages(root / "val", size, channels, classes=train.classes)
    return split(FolderImages(root, size, channels), val_fraction, seed)


def split(images: LabelledImages, val_fraction: float,
          seed: int) -> tuple[LabelledImages, LabelledImages]:
    """A seeded random split into training and validation samples."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed)).tolist()
    held = max(1, round(len(images) * val_fraction))
    return Subset(images, sorted(order[held:])), Subset(images, sorted(order[:held]))


def _region_files(image: Path) -> tuple[Path | None, Path | None]:
    stem = image.with_suffix("")
    mask, boxes = Path(f"{stem}{MASK_SUFFIX}"), Path(f"{stem}{BOXES_SUFFIX}")
    return (mask if mask.is_file() else None), (boxes if boxes.is_file() else None)


def _region(image: Path, original: torch.Size, size: tuple[int, int]) -> Tensor | None:
    """The object's pixels at `size`: the mask, else the boxes, else None."""
    mask_file, boxes_file = _region_files(image)
    height, width = size
    if mask_file is not None:
        with Image.open(mask_file) as opened:
            mask = ImageOps.exif_transpose(opened).convert("L")
            values = torch.frombuffer(bytearray(mask.tobytes()), dtype=torch.uint8)
            grid = values.view(1, 1, mask.height, mask.width).float()
        return F.interpolate(grid, size=(height, width), mode="nearest")[0, 0] > 0
    if boxes_file is not None:
        boxes = json.loads(boxes_file.read_text())
        if not isinstance(boxes, list) or not all(
            isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b)
            for b in boxes
        ):
            raise ValueError(f"{boxes_file}: expected a list of [x0, y0, x1, y1] boxes")
        sy, sx = height / original[0], width / original[1]
        scaled = [(x0 * sx, y0 * sy, x1 * sx, y1 * sy) for x0, y0, x1, y1 in boxes]
        return boxes_region(scaled, height, width)
    return None
