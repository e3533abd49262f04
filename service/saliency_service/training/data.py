"""Training data: labelled images with an optional saliency map each, and their batches.

A sample is an image (C, H, W) in [0, 1], its class, and a saliency map in {−1, 1} or None:
the object's mask or boxes as weak saliency (+1 on the object), or a teacher's map thresholded
(teacher.py). Two sources: arrays in memory (the project's generated data, with its masks) and
a folder of class sub-folders (folder.py).

Batches are drawn in an order fixed by the seed and the epoch alone, so that a run resumed at
any step sees the batches the uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from saliency_service.training.perturbations import weak_saliency


@dataclass(frozen=True)
class Sample:
    """Shape: image (C, H, W) float in [0, 1]; saliency (1 or C, H, W) int8 in {−1, 1}."""

    image: Tensor
    label: int
    saliency: Tensor | None = None


@dataclass(frozen=True)
class Batch:
    """Shape: images (N, C, H, W); labels (N,); saliency (N, 1 or C, H, W) or None."""

    images: Tensor
    labels: Tensor
    saliency: Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        saliency = None if self.saliency is None else self.saliency.to(device)
        return Batch(self.images.to(device), self.labels.to(device), saliency)


class LabelledImages(Dataset[Sample]):
    """What the training loop reads: samples, class names, and whether every sample has a
    saliency map."""

    classes: tuple[str, ...] = ()
    has_saliency: bool = False

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        raise NotImplementedError


class ArrayImages(LabelledImages):
    """Images in memory, e.g. generated ones, with their object masks as weak saliency.

    Shape:
        images: (N, H, W, C) uint8; labels: (N,); masks: (N, H, W) bool or None.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                 masks: np.ndarray | None = None) -> None:
        if len(images) != len(labels) or (masks is not None and len(masks) != len(images)):
            raise ValueError("images, labels and masks must have one entry per image")
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.masks = None if masks is None else torch.from_numpy(np.asarray(masks, dtype=bool))
        self.classes = tuple(classes)
        self.has_saliency = masks is not None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Sample:
        saliency = None if self.masks is None else weak_saliency(self.masks[index])[None]
        return Sample(self.images[index].float() / 255, int(self.labels[index]), saliency)


class WithSaliency(LabelledImages):
    """`images` with saliency maps of its own (a teacher's), by index."""

    def __init__(self, images: LabelledImages, saliency: Tensor) -> None:
        if len(saliency) != len(images):
            raise ValueError("one saliency map per image")
        self.base, self.saliency = images, saliency
        self.classes, self.has_saliency = images.classes, True

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Sample:
        sample = self.base[index]
        return Sample(sample.image, sample.label, self.saliency[index])


def collate(samples: Sequence[Sample]) -> Batch:
    """Stack samples; saliency only if every sample has one."""
    maps = [s.saliency for s in samples if s.saliency is not None]
    saliency = torch.stack(maps) if len(maps) == len(samples) else None
    return Batch(torch.stack([s.image for s in samples]),
                 torch.tensor([s.label for s in samples], dtype=torch.int64), saliency)


def epoch_order(count: int, seed: int, epoch: int) -> Tensor:
    """The order of the samples in `epoch` (from 1): fixed by the seed and the epoch."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(count, generator=generator)


class EpochBatches(Sampler[list[int]]):
    """The batches of one epoch, from batch `first` on (a resumed epoch skips those done)."""

    def __init__(self, count: int, batch_size: int, seed: int, epoch: int, first: int = 0) -> None:
        self.order = epoch_order(count, seed, epoch)
        self.batch_size, self.first = batch_size, first

    def __len__(self) -> int:
        return max(0, -(-len(self.order) // self.batch_size) - self.first)

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(self.first * self.batch_size, len(self.order), self.batch_size):
            yield self.order[start : start + self.batch_size].tolist()


def batches(images: LabelledImages, sampler: Sampler[list[int]],
            workers: int = 0) -> DataLoader[Sample]:
    """A loader of `images` in `sampler`'s batches, decoded by `workers` processes (0: here)."""
    return DataLoader(images, batch_sampler=sampler, num_workers=workers, collate_fn=collate)


def in_order(images: LabelledImages, batch_size: int, workers: int = 0,
             limit: int | None = None) -> DataLoader[Sample]:
    """The first `limit` samples (all by default) in order, for evaluation."""
    count = len(images) if limit is None else min(limit, len(images))
    chunks = [list(range(i, min(i + batch_size, count))) for i in range(0, count, batch_size)]
    return DataLoader(images, batch_sampler=chunks, num_workers=workers, collate_fn=collate)


def flip(batch: Batch, generator: torch.Generator) -> Batch:
    """Each image mirrored left-right with probability ½, its saliency map with it."""
    chosen = (torch.rand(len(batch.labels), generator=generator) < 0.5).view(-1, 1, 1, 1)
    images = torch.where(chosen.to(batch.images.device), batch.images.flip(3), batch.images)
    saliency = batch.saliency
    if saliency is not None:
        saliency = torch.where(chosen.to(saliency.device), saliency.flip(3), saliency)
    return Batch(images, batch.labels, saliency)
