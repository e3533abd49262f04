"""SimBA, the simple black-box attack, in the pixel basis.

C. Guo, J. R. Gardner, Y. You, A. G. Wilson, K. Q. Weinberger, "Simple Black-box Adversarial
Attacks", ICML 2019 (arXiv:1905.07121), Algorithm 1. Take the coordinates of the image in a
random order; for each, try x − ε·q, then x + ε·q (q the coordinate's unit vector), and keep the
first that lowers the probability of the label (untargeted) or raises that of the target. Only
the model's output probabilities are used: no gradient, so it attacks a model that runs on ONNX
Runtime alone.

In the pixel basis each coordinate moves at most once, by ±ε, so the result is within the L∞
ball of radius ε (and in [0, 1]): ε is an L∞ budget like FGSM's and PGD's. One random order
(from `seed`) serves every image, so an image's result does not depend on its batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.attacks._params import LINF_EPS
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.params import Param


def simba(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
    steps: int = 1000,
    seed: int = 0,
) -> AttackOutput:
    """Up to `steps` coordinates tried per image, each with two forward passes at most.

    An image stops changing once it is misclassified (untargeted) or at its target.

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, targets, eps: (N,).
        Returns adversarial images (N, C, H, W) in [0, 1] and `eps`.
    """
    n = len(images)
    rows = torch.arange(n, device=images.device)
    classes = labels if targets is None else targets
    sign = 1.0 if targets is None else -1.0  # minimise p(label), or maximise p(target)
    adversarial = images.detach().clone().flatten(1)
    order = torch.randperm(
        adversarial.shape[1], generator=torch.Generator().manual_seed(seed)
    ).to(images.device)
    with torch.no_grad():
        logits = model(adversarial.view_as(images))
        score = sign * logits.softmax(dim=1)[rows, classes]
        done = _succeeded(logits, labels, targets)
        for coordinate in order[: min(steps, len(order))]:
            live = ~done
            if not bool(live.any()):
                break
            for direction in (-1.0, 1.0):
                trial = adversarial.clone()
                trial[:, coordinate] = (trial[:, coordinate] + direction * eps).clamp(0, 1)
                trial_logits = model(trial.view_as(images))
                trial_score = sign * trial_logits.softmax(dim=1)[rows, classes]
                better = live & (trial_score < score)
                adversarial[better] = trial[better]
                score = torch.where(better, trial_score, score)
                done |= better & _succeeded(trial_logits, labels, targets)
                live &= ~better
    return AttackOutput(adversarial.view_as(images), eps=eps)


def _succeeded(logits: Tensor, labels: Tensor, targets: Tensor | None) -> Tensor:
    predicted = logits.argmax(dim=1)
    return predicted != labels if targets is None else predicted == targets


def _simba_passes(params: Mapping[str, object]) -> float:
    """Two forward passes per coordinate tried, a forward pass a third of a forward+backward."""
    return (2 * cast(int, params["steps"]) + 1) / 3


SIMBA = AttackSpec(
    name="simba",
    function=simba,
    params=(
        LINF_EPS,
        Param(
            "steps",
            "integer",
            1000,
            "pixel coordinates tried per image (two forward passes each, at most)",
            minimum=1,
            maximum=100000,
        ),
        Param(
            "seed", "integer", 0, "seeds the order of the coordinates", minimum=0, maximum=2**31 - 1
        ),
    ),
    description="SimBA (Guo et al. 2019): black-box, from the model's probabilities alone; "
    "each pixel coordinate in a random order moves by ±ε if that lowers the label's "
    "probability (L∞). Runs on ONNX-only models.",
    passes=_simba_passes,
    forward_only=True,
)
