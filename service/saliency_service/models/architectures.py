"""Architectures a model config may name: torchvision's classifiers and the built-in ones."""

from __future__ import annotations

from collections.abc import Callable

import torchvision
from torch import nn

from saliency_service.models.config import ModelConfigError
from saliency_service.models.shapes_cnn import ShapesCNN

BUILTIN: dict[str, Callable[[int], nn.Module]] = {
    "shapes_cnn": lambda num_classes: ShapesCNN(num_classes=num_classes)
}


def build_architecture(name: str, num_classes: int) -> nn.Module:
    """An untrained network for "torchvision:<name>" or "builtin:<name>".

    Raises:
        ModelConfigError: the name is unknown; the message lists the valid ones.
    """
    family, _, arch = name.partition(":")
    if family == "builtin" and arch in BUILTIN:
        return BUILTIN[arch](num_classes)
    if family == "torchvision":
        known = torchvision.models.list_models(module=torchvision.models)
        if arch in known:
            network: nn.Module = torchvision.models.get_model(
                arch, weights=None, num_classes=num_classes
            )
            return network
        raise ModelConfigError(
            f"unknown torchvision architecture {arch!r}; known: {', '.join(sorted(known))}"
        )
    raise ModelConfigError(
        f"unknown architecture {name!r}: use 'torchvision:<name>' or one of "
        + ", ".join(f"'builtin:{key}'" for key in BUILTIN)
    )
