"""Train the demo model reproducibly and write it as a model-repository entry.

    python -m saliency_service.demo.train [--out DIR] [--epochs E] [--seed S]

The network learns on normalised pixels; it is evaluated wrapped in `Classifier` on pixels in
[0, 1], exactly as the service runs it, on a freshly generated set whose seed training never
uses. The same seed, thread count (2) and machine give byte-identical weights; the default
run took 7 minutes on 2 shared CPU cores.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from saliency_service.demo.shapes import CLASSES, ShapesBatch, generate
from saliency_service.models.classifier import Classifier
from saliency_service.models.shapes_cnn import CAM_LAYER, ShapesCNN

# The script reports through logging (configured in `main`) so the module stays print-free.
log = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).parent / "repository" / "shapes"
# Training seeds are below this; evaluation seeds are at or above it, so they never overlap.
TEST_SEED_OFFSET = 10_000
TRAIN_SIZE = 16_000
TEST_SIZE = 3_000
BATCH_SIZE = 64

_MODEL_TOML = """\
architecture = "builtin:shapes_cnn"
weights = "weights.safetensors"
labels = "labels.txt"
cam_layer = "{cam_layer}"
[input]
height = {size}
width = {size}
channels = 3
mean = [{mean}]
std = [{std}]
[batching]
max_batch_size = 32
max_queue_delay_ms = 5
"""


def to_tensor(images: np.ndarray) -> Tensor:
    """uint8 (N, H, W, 3) images as float (N, 3, H, W) pixels in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images in [0, 1] units, rounded to 4 decimals.

    Rounded before training so that the network learns with exactly the values written to
    model.toml.
    """
    pixels = images.reshape(-1, 3).astype(np.float64) / 255.0
    mean = [round(float(v), 4) for v in pixels.mean(axis=0)]
    std = [round(float(v), 4) for v in pixels.std(axis=0)]
    return mean, std


def _dihedral(images: Tensor, generator: torch.Generator) -> Tensor:
    # Every class is invariant to rotation and reflection, so a random element of the square's
    # symmetry group (flip x, transpose, flip y) per image is a free, label-preserving variation.
    def chosen() -> Tensor:
        return (torch.rand(images.shape[0], generator=generator) < 0.5).view(-1, 1, 1, 1)

    images = torch.where(chosen(), images.flip(3), images)
    images = torch.where(chosen(), images.transpose(2, 3), images)
    return torch.where(chosen(), images.flip(2), images)


def train(model: Classifier, data: ShapesBatch, epochs: int, seed: int) -> None:
    """Train `model` in place on `data` with AdamW and a one-cycle schedule.

    Args:
        model: the network wrapped in its normalisation; trained on pixels in [0, 1].
        data: the training set.
        epochs: passes over the training set.
        seed: seeds the shuffling and augmentation.
    """
    generator = torch.Generator().manual_seed(seed)
    images, labels = to_tensor(data.images), torch.from_numpy(data.labels)
    steps_per_epoch = -(-len(labels) // BATCH_SIZE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, epochs=epochs, steps_per_epoch=steps_per_epoch
    )
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        total_loss, correct = 0.0, 0
        for start in range(0, len(labels), BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            logits = model(_dihedral(images[index], generator))
            loss = loss_fn(logits, labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(index)
            correct += int((logits.argmax(1) == labels[index]).sum())
        log.info(
            "epoch %d/%d: loss %.4f, train accuracy %.4f",
            epoch + 1,
            epochs,
            total_loss / len(labels),
            correct / len(labels),
        )


@torch.no_grad()
def accuracy(model: Classifier, data: ShapesBatch) -> float:
    """Top-1 accuracy of `model` (in eval mode) on `data`."""
    model.eval()
    predictions = torch.cat(
        [
            model(to_tensor(data.images[i : i + 256])).argmax(1)
            for i in range(0, len(data.labels), 256)
        ]
    )
    return float((predictions == torch.from_numpy(data.labels)).float().mean())


def write_repository(
    out: Path, network: ShapesCNN, mean: Sequence[float], std: Sequence[float], size: int
) -> None:
    """Write weights.safetensors, labels.txt and model.toml for `network` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous() for name, tensor in network.state_dict().items()}
    save_file(state, str(out / "weights.safetensors"))
    (out / "labels.txt").write_text("".join(f"{name}\n" for name in CLASSES))

    def floats(values: Sequence[float]) -> str:
        return ", ".join(f"{v:.4f}" for v in values)

    toml = _MODEL_TOML.format(cam_layer=CAM_LAYER, size=size, mean=floats(mean), std=floats(std))
    (out / "model.toml").write_text(toml)


def main(argv: Sequence[str] | None = None) -> int:
    """Train, evaluate on a fresh set, write the repository entry; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--epochs", type=int, default=7, help="passes over the training set")
    parser.add_argument("--seed", type=int, default=0, help=f"in [0, {TEST_SEED_OFFSET})")
    args = parser.parse_args(argv)
    if not 0 <= args.seed < TEST_SEED_OFFSET:
        parser.error(f"--seed must be in [0, {TEST_SEED_OFFSET})")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    started = time.perf_counter()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    data = generate(TRAIN_SIZE, seed=args.seed)
    mean, std = channel_stats(data.images)
    network = ShapesCNN(num_classes=len(CLASSES))
    model = Classifier(network, mean, std)
    train(model, data, args.epochs, args.seed)

    test = generate(TEST_SIZE, seed=TEST_SEED_OFFSET + args.seed)
    log.info("test accuracy %.4f on %d fresh images", accuracy(model, test), TEST_SIZE)
    write_repository(args.out, network, mean, std, size=data.images.shape[1])
    log.info("wrote %s in %.0f s", args.out, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
