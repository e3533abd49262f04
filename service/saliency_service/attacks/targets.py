"""Which class a targeted attack aims at: the request's `target_mode`, in one place.

- "none": untargeted; attacks push each image away from its label.
- "given": the request's `target_class` for every image.
- "least_likely": the class the model scores lowest on the clean image (Kurakin et al. 2016,
  "iterative least-likely class method", https://arxiv.org/abs/1607.02533).
- "random": a class drawn uniformly among those other than the predicted one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_service.errors import InvalidRequest

TARGET_MODES = ("none", "given", "least_likely", "random")


def choose_targets(logits: Tensor, mode: str, given: Tensor | None, seed: int) -> Tensor | None:
    """The classes to reach, or None for an untargeted attack.

    For "random", each image draws from a generator seeded with `seed` alone, so its target does
    not depend on its batch-mates: the offset from the predicted class is the same for every
    image of a batch, and uniform over the other classes.

    Args:
        logits: the model's logits on the clean images.
        mode: one of TARGET_MODES.
        given: the requested classes, used (and required) by "given".
        seed: seeds "random".

    Raises:
        InvalidRequest: an unknown mode, "given" without classes or with a class out of range,
            or a targeted mode on a model with a single class.

    Shape:
        logits: (N, num_classes); given: (N,); returns (N,) int64 or None.
    """
    if mode not in TARGET_MODES:
        raise InvalidRequest(f"target_mode must be one of {', '.join(TARGET_MODES)}; got '{mode}'")
    num_classes = logits.shape[1]
    if mode == "none":
        return None
    if num_classes < 2:
        raise InvalidRequest(f"target_mode '{mode}' needs a model with at least 2 classes")
    if mode == "given":
        if given is None:
            raise InvalidRequest("target_mode 'given' needs a target_class for every image")
        if bool(((given < 0) | (given >= num_classes)).any()):
            raise InvalidRequest(f"target_class must lie in [0, {num_classes - 1}]")
        return given.to(device=logits.device, dtype=torch.int64)
    if mode == "least_likely":
        return logits.argmin(dim=1)
    generator = torch.Generator().manual_seed(seed)
    offset = int(torch.randint(1, num_classes, (), generator=generator))
    return (logits.argmax(dim=1) + offset) % num_classes
