"""timm architectures (`architecture = "timm:<name>"`): built untrained, weights from safetensors.

`timm.create_model(name, pretrained=False, ...)` builds the network from timm's code alone:
nothing is downloaded and no file is read (arguments that would read one are refused by
config.py). The architecture's pretrained config gives the normalisation and input size its
weights expect, and its `feature_info` the last feature stage, the default CAM layer.

timm is imported on first use: it takes seconds, and servers without timm models never pay it.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from saliency_service.models.sources import SourceDefaults
from saliency_service.models.toml_fields import ModelConfigError


def _timm() -> Any:
    try:
        import timm
    except ImportError:
        raise ModelConfigError(
            "timm architectures need the timm package: pip install 'saliency-service[models]'"
        ) from None
    return timm


def timm_defaults(name: str, arguments: dict[str, Any]) -> SourceDefaults:
    """Mean, std and input size of timm architecture `name` (its pretrained config).

    Raises:
        ModelConfigError: timm has no such architecture.
    """
    timm = _timm()
    if not timm.is_model(name):
        raise ModelConfigError(
            f"unknown timm architecture {name[:80]!r} (timm.list_models() lists them)"
        )
    config = timm.models.get_pretrained_cfg(name)
    channels, height, width = getattr(config, "input_size", None) or (None, None, None)
    size = arguments.get("img_size")
    if isinstance(size, int):
        height = width = size
    elif isinstance(size, list) and len(size) == 2:
        height, width = size
    return SourceDefaults(
        height=height,
        width=width,
        channels=arguments.get("in_chans", channels),
        mean=tuple(config.mean) if config is not None else None,
        std=tuple(config.std) if config is not None else None,
    )


def build_timm(name: str, num_classes: int, channels: int, arguments: dict[str, Any]) -> nn.Module:
    """An untrained timm network, with fused attention so attention maps can be read.

    Raises:
        ModelConfigError: the architecture or its arguments are refused by timm.
    """
    timm = _timm()
    arguments = {"in_chans": channels, **arguments}
    try:
        network: nn.Module = timm.create_model(
            name, pretrained=False, num_classes=num_classes, **arguments
        )
    except (TypeError, ValueError, AssertionError, RuntimeError) as error:
        raise ModelConfigError(f"timm cannot build {name!r} with {arguments}: {error}") from None
    # Attention maps are read from scaled_dot_product_attention calls (explainers/attention.py);
    # timm's unfused path computes the same softmax by hand, which nothing can see.
    for module in network.modules():
        if hasattr(module, "fused_attn"):
            setattr(module, "fused_attn", True)  # noqa: B010 - mypy sees a Module attribute
    return network


def timm_cam_layer(network: nn.Module) -> str | None:
    """The module of timm's last feature stage (`feature_info`), e.g. "layer4" or "stages.3"."""
    info = getattr(network, "feature_info", None)
    if isinstance(info, list) and info and isinstance(info[-1], dict):
        module = info[-1].get("module")
        return str(module) if module else None
    return None
