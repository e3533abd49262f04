"""Forward passes of perturbed images, batched across images and samples: the black-box core.

The perturbation methods (LIME, KernelSHAP, feature ablation, Shapley sampling, RISE) all score
many perturbed copies of each image. Copies of every image of the batch are built a chunk at a
time (never all at once: 1000 copies of a 224-px image are 600 MB) and sent through `forward`,
the model or its ONNX Runtime session, which the operations layer picks. Random draws come
from a CPU generator per image seeded with `seed`, so an image gets the same draws in any batch
and on any device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from saliency_service.explainers._autograd import chunks
from saliency_service.explainers._reference import BASELINES
from saliency_service.params import Param

Forward = Callable[[Tensor], Tensor]
SCORES: tuple[str, ...] = ("logit", "probability")
# Copies per pass when the engine sets no budget: the passes are forward-only.
DEFAULT_CHUNK = 64
# A forward-only pass costs about a third of a forward+backward one (pricing).
FORWARD = 1 / 3


def score_param(default: str) -> Param:
    """The `score` parameter: which output of the model the method explains."""
    return Param(
        "score",
        "text",
        default,
        "what is explained: the target's logit, or its softmax probability",
        choices=SCORES,
    )


SEED = Param(
    "seed",
    "integer",
    0,
    "seeds the random draws; each image gets the same draws whatever else is in the batch",
    minimum=0,
    maximum=2**31 - 1,
)


def generator(seed: int) -> torch.Generator:
    """A fresh CPU generator: one per image, so that draws do not depend on the batch."""
    return torch.Generator().manual_seed(seed)


def forward_of(model: nn.Module, forward: Forward | None) -> Forward:
    """What the passes run on: `forward` when the operations layer gives one, else the model."""
    return model if forward is None else forward


def evaluate(
    forward: Forward,
    build: Callable[[slice], tuple[Tensor, Tensor]],
    total: int,
    *,
    score: str,
    chunk_size: int | None,
) -> Tensor:
    """The target score of `total` perturbed rows, `chunk_size` (else DEFAULT_CHUNK) per pass.

    `build(rows)` returns the perturbed images of those rows and their target classes.

    Shape:
        returns (total,).
    """
    out = []
    with torch.no_grad():
        for rows in chunks(total, chunk_size or DEFAULT_CHUNK):
            batch, targets = build(rows)
            logits = forward(batch).float()
            if score == "probability":
                logits = logits.softmax(dim=1)
            out.append(logits.gather(1, targets[:, None].to(logits.device))[:, 0])
    return torch.cat(out) if out else torch.zeros(0)


def score_coalitions(
    forward: Forward,
    images: Tensor,
    references: Tensor,
    labels: Tensor,
    coalitions: Sequence[Tensor],
    targets: Tensor,
    *,
    score: str,
    chunk_size: int | None,
) -> list[Tensor]:
    """The score of each image with the segments of each coalition kept and the others replaced
    by the image's reference.

    Args:
        labels: each pixel's segment (`_segments.segment`).
        coalitions: per image, (S_i, K_i) booleans, True for a kept segment.

    Shape:
        images, references: (N, C, H, W); labels: (N, H, W); returns per image (S_i,), on the
        CPU in float64 (for the surrogate fits).
    """
    widest = max((c.shape[1] for c in coalitions), default=0)
    sizes = [len(c) for c in coalitions]
    owners = torch.repeat_interleave(torch.arange(len(coalitions)), torch.tensor(sizes))
    keep = torch.cat([torch.nn.functional.pad(c, (0, widest - c.shape[1])) for c in coalitions])
    device = images.device
    flat_labels = labels.flatten(1)

    def build(rows: slice) -> tuple[Tensor, Tensor]:
        owner = owners[rows].to(device)
        kept = keep[rows].to(device).gather(1, flat_labels[owner]).view_as(labels[owner])
        return torch.where(kept[:, None], images[owner], references[owner]), targets[owner]

    scores = evaluate(forward, build, len(owners), score=score, chunk_size=chunk_size)
    return list(torch.split(scores.double().cpu(), sizes))


def paint(values: Sequence[Tensor], labels: Tensor) -> Tensor:
    """A heatmap giving every pixel its segment's value.

    Shape:
        values: per image (K_i,); labels: (N, H, W); returns (N, H, W) float32.
    """
    return torch.stack(
        [v.to(labels.device, torch.float32)[lab] for v, lab in zip(values, labels, strict=True)]
    )


HIDE_PARAMS = (
    Param(
        "baseline",
        "text",
        "black",
        "what a hidden segment shows: black, the blurred image, uniform noise, or "
        "baseline_image",
        choices=BASELINES,
    ),
    Param(
        "blur_sigma",
        "number",
        5.0,
        "Gaussian blur of the 'blurred' baseline, in pixels",
        minimum=0.1,
        maximum=64.0,
    ),
    Param(
        "baseline_image",
        "tensor",
        None,
        "the 'given' baseline: (H, W, C) float32 pixels in [0, 1] at the model's input size",
    ),
)

