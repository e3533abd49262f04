"""What the AutoAttack family shares: attack only the images still classified correctly.

Croce and Hein's attacks (APGD-CE, APGD-T, FAB-T, Square) and their ensemble run every restart,
target class and component on the images that no earlier attempt has broken, and return an
image changed only where an attempt succeeded, as the reference implementation does
(https://github.com/fra31/auto-attack): an unchanged image means "robust to this attack".
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_service.attacks.base import AttackOutput
from saliency_service.errors import InvalidRequest


def untargeted_only(name: str, targets: Tensor | None) -> None:
    """Raises InvalidRequest when `targets` is given: these attacks choose their own targets."""
    if targets is not None:
        raise InvalidRequest(f"{name} is untargeted (it picks its own target classes); "
                             "use target_mode 'none'")


class Survivors:
    """The images of a batch that every attempt so far left correctly classified.

    Shape:
        images: (N, C, H, W) in [0, 1]; labels: (N,).
    """

    def __init__(self, model: nn.Module, images: Tensor, labels: Tensor) -> None:
        self.images = images.detach()
        self.labels = labels
        with torch.no_grad():
            self.clean_logits = model(self.images)
        self.robust = self.clean_logits.argmax(dim=1) == labels
        self.adversarial = self.images.clone()

    def index(self) -> Tensor:
        """Rows still robust, as a (M,) index; one host sync."""
        index: Tensor = self.robust.nonzero().squeeze(1)
        return index

    def record(self, index: Tensor, candidates: Tensor, fooled: Tensor) -> None:
        """Keep `candidates[j]` for row `index[j]` where `fooled[j]`; those rows are broken."""
        broken = index[fooled]
        self.adversarial[broken] = candidates[fooled].detach()
        self.robust[broken] = False

    def output(self, eps: Tensor) -> AttackOutput:
        return AttackOutput(self.adversarial, eps=eps)


def misclassified(model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
    """Whether the model's prediction on each image differs from its label (a forward pass).

    Shape:
        images: (N, C, H, W); labels: (N,); returns (N,) bool.
    """
    with torch.no_grad():
        result: Tensor = model(images).argmax(dim=1) != labels
    return result


def start_noise(shape: torch.Size, generator: torch.Generator, device: torch.device) -> Tensor:
    """U(−1, 1) noise of one image's shape, the random start of APGD and FAB (scaled by the
    caller to ε over its largest magnitude, as the reference does).

    Drawn on the CPU from `generator`, so that every image of a batch and every device gets the
    same pattern: batched == one image at a time, and a GPU draws what a CPU draws.
    """
    return (2 * torch.rand(shape, generator=generator) - 1).to(device)
