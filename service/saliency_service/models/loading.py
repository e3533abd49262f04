"""Turn a model folder into a ready model: torch for gradients, ONNX Runtime for forward passes."""

from __future__ import annotations

import logging
import pickle
import warnings
from dataclasses import dataclass

import safetensors.torch
import torch
from torch import nn

from saliency_service.models.architectures import build_architecture
from saliency_service.models.classifier import Classifier
from saliency_service.models.config import ModelConfig, ModelConfigError
from saliency_service.models.exported import load_exported_program
from saliency_service.models.layers import cam_layers, default_cam_layer
from saliency_service.models.onnx_runtime import OnnxClassifier, export_onnx, logit_gap

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model ready to serve: `classifier` takes pixels in [0, 1]; its weights need no grad."""

    config: ModelConfig
    classifier: Classifier
    onnx: OnnxClassifier
    device: torch.device
    layers: tuple[str, ...]
    default_layer: str | None
    onnx_max_abs_gap: float
    onnx_max_rel_gap: float


def load_model(
    config: ModelConfig, device: torch.device, *, trust_torchscript: bool = False
) -> LoadedModel:
    """Load weights, wrap, export to ONNX and measure the torch/ORT logit gap.

    Args:
        trust_torchscript: load TorchScript files, which are programs (see `load_network`).

    Raises:
        ModelConfigError: the files do not load or do not match the config.
    """
    network = load_network(config, trust_torchscript=trust_torchscript)
    classifier = Classifier(network, config.mean, config.std).eval()
    classifier.requires_grad_(False)
    shape = (config.channels, config.height, config.width)
    with torch.no_grad():
        outputs = classifier(torch.rand(1, *shape))
    if outputs.shape != (1, config.num_classes):
        raise ModelConfigError(
            f"model {config.name!r} outputs shape {tuple(outputs.shape)}, "
            f"expected (1, {config.num_classes}) from its config"
        )
    onnx = OnnxClassifier(
        export_onnx(classifier, config.height, config.width, config.channels), device
    )
    classifier.to(device)
    # Fixed, seeded inputs so the reported gap is the same on every start.
    check = torch.rand(4, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    abs_gap, rel_gap = logit_gap(classifier, onnx, check)
    # TorchScript graphs run inlined, so forward hooks never fire: no layer can be named.
    layers = tuple(cam_layers(network, shape))
    default = (config.cam_layer or default_cam_layer(network, shape)) if layers else None
    if default is not None and default not in dict(network.named_modules()):
        raise ModelConfigError(f"model {config.name!r}: cam_layer {default!r} is not a module")
    log.info("loaded %s (%s) on %s; ONNX gap %.2e", config.name, config.kind, device, abs_gap)
    return LoadedModel(config, classifier, onnx, device, layers, default, abs_gap, rel_gap)


def load_network(config: ModelConfig, *, trust_torchscript: bool = False) -> nn.Module:
    """The network `config` names, loaded without running anything from its files.

    Safetensors are raw tensors; a `.pt` state dict is unpickled with `weights_only=True`; a
    `.pt2` archive is checked first (exported.py). TorchScript cannot be made safe: the file is
    a program, and `torch.jit.load` runs its `__setstate__` methods, whose operators include
    `aten::save` (writes any file). It loads only when the operator vouches for the repository
    (`trust_torchscript`, the `--trust-torchscript` flag).

    Raises:
        ModelConfigError: a file is refused, does not load, or does not fit the architecture.
    """
    if config.torchscript is not None:
        if not trust_torchscript:
            raise ModelConfigError(
                f"{config.torchscript.name}: TorchScript files are programs that run when "
                "loaded; export the model with torch.export (exported_program) or save its "
                "weights as safetensors, or start the server with --trust-torchscript"
            )
        with warnings.catch_warnings():
            # PyTorch deprecates TorchScript; operators still have such files, so we load them.
            warnings.simplefilter("ignore", FutureWarning)
            scripted: nn.Module = torch.jit.load(  # type: ignore[no-untyped-call]
                str(config.torchscript), map_location="cpu"
            )
            return scripted
    if config.exported_program is not None:
        return load_exported_program(config.exported_program)
    assert config.architecture is not None and config.weights is not None
    network = build_architecture(config.architecture, config.num_classes)
    if config.weights.suffix == ".safetensors":
        try:
            state = safetensors.torch.load_file(str(config.weights))
        except safetensors.SafetensorError as error:
            raise ModelConfigError(
                f"{config.weights.name} is not a valid safetensors file: {error}"
            ) from None
    else:
        try:
            # Never arbitrary pickle: a plain state dict of tensors only.
            state = torch.load(config.weights, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
            raise ModelConfigError(
                f"{config.weights.name} is not a plain state dict "
                f"(only tensors load; arbitrary pickles are refused): {error}"
            ) from None
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        message = f"{config.weights.name} does not fit the architecture: {error}"
        raise ModelConfigError(message) from None
    return network
