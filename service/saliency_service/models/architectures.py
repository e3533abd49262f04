"""Architectures a model config may name: torchvision's and timm's classifiers, built-in ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torchvision
from torch import nn

from saliency_service.models.shapes_cnn import ShapesCNN
from saliency_service.models.timm_models import build_timm
from saliency_service.models.tiny_cnn import TinyCNN
from saliency_service.models.toml_fields import ModelConfigError

BUILTIN: dict[str, Callable[[int], nn.Module]] = {
    "shapes_cnn": lambda num_classes: ShapesCNN(num_classes=num_classes),
    "tiny_cnn": lambda num_classes: TinyCNN(num_classes=num_classes),
}


def build_architecture(
    name: str, num_classes: int, arguments: Mapping[str, Any] | None = None, channels: int = 3
) -> nn.Module:
    """An untrained network for "torchvision:<name>", "timm:<name>" or "builtin:<name>".

    Args:
        arguments: keyword arguments of the architecture's constructor (`architecture_args`).

    Raises:
        ModelConfigError: the name is unknown (the message says where the valid ones are
            listed), or the constructor refuses the arguments.
    """
    family, _, arch = name.partition(":")
    arguments = dict(arguments or {})
    if family == "builtin" and arch in BUILTIN:
        return BUILTIN[arch](num_classes)
    if family == "timm":
        return build_timm(arch, num_classes, channels, arguments)
    if family == "torchvision":
        known = torchvision.models.list_models(module=torchvision.models)
        if arch not in known:
            raise ModelConfigError(
                f"unknown torchvision architecture {arch!r}; known: {', '.join(sorted(known))}"
            )
        try:
            network: nn.Module = torchvision.models.get_model(
                arch, weights=None, num_classes=num_classes, **arguments
            )
        except (TypeError, ValueError) as error:
            raise ModelConfigError(f"torchvision cannot build {arch!r}: {error}") from None
        return network
    raise ModelConfigError(
        f"unknown architecture {name!r}: use 'torchvision:<name>', 'timm:<name>' or one of "
        + ", ".join(f"'builtin:{key}'" for key in BUILTIN)
    )
