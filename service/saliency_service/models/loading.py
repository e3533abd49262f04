"""Turn a model folder into a ready model: torch for gradients, ONNX Runtime for forward passes."""

from __future__ import annotations

import logging
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from saliency_service.models.architectures import build_architecture
from saliency_service.models.classifier import Classifier
from saliency_service.models.config import ModelConfig, ModelConfigError
from saliency_service.models.exported import load_exported_program
from saliency_service.models.huggingface import build_huggingface
from saliency_service.models.layers import cam_layers, default_cam_layer
from saliency_service.models.onnx_only import OrtNetwork, read_onnx
from saliency_service.models.onnx_runtime import OnnxClassifier, export_onnx, logit_gap
from saliency_service.models.timm_models import timm_cam_layer

log = logging.getLogger(__name__)
# A model's own ONNX file must agree with its torch graph this closely (relative logit gap), or
# every attack's ONNX Runtime verdict would judge another function.
SHIPPED_ONNX_MAX_GAP = 1e-3


@dataclass
class LoadedModel:
    """A model ready to serve: `classifier` takes pixels in [0, 1]; its weights need no grad.

    `key` names this load of this version in the engine (a model replaced by a new load of the
    same version gets a new key, so work planned on the old one still runs on the old one).
    `forward_only`: an ONNX-only model, whose classifier runs ONNX Runtime and has no gradients.
    `forward`: where set, a classifier for forward passes alone that computes them faster than
    `classifier` (ONNX Runtime on a CPU); black-box attacks query it.
    """

    config: ModelConfig
    classifier: Classifier
    onnx: OnnxClassifier
    device: torch.device
    layers: tuple[str, ...]
    default_layer: str | None
    onnx_max_abs_gap: float
    onnx_max_rel_gap: float
    key: str = ""
    revision: str = ""
    loaded_at: float = 0.0
    forward: Classifier | None = None

    def __post_init__(self) -> None:
        self.key = self.key or self.config.name

    @property
    def forward_only(self) -> bool:
        return self.config.forward_only


def load_model(
    config: ModelConfig, device: torch.device, *, trust_torchscript: bool = False
) -> LoadedModel:
    """Load weights, wrap, export to ONNX (or read the model's own) and measure the gap.

    Args:
        trust_torchscript: load TorchScript files, which are programs (see `load_network`).

    Raises:
        ModelConfigError: the files do not load or do not match the config.
    """
    if config.forward_only:
        return _load_onnx_only(config, device)
    network = load_network(config, trust_torchscript=trust_torchscript)
    classifier = Classifier(network, config.mean, config.std).eval()
    classifier.requires_grad_(False)
    shape = (config.channels, config.height, config.width)
    _check_outputs(config, classifier)
    if config.onnx is not None:
        onnx = OnnxClassifier(read_onnx(config.onnx), device, config.mean, config.std)
    else:
        onnx = OnnxClassifier(
            export_onnx(classifier, config.height, config.width, config.channels), device
        )
    classifier.to(device)
    # Fixed, seeded inputs so the reported gap is the same on every start.
    check = torch.rand(4, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    abs_gap, rel_gap = logit_gap(classifier, onnx, check)
    if config.onnx is not None and rel_gap > SHIPPED_ONNX_MAX_GAP:
        raise ModelConfigError(
            f"{config.onnx.name} does not compute the torch model's logits (relative gap "
            f"{rel_gap:.1e} > {SHIPPED_ONNX_MAX_GAP:g}); export it from the same weights"
        )
    # TorchScript graphs run inlined, so forward hooks never fire: no layer can be named.
    layers = tuple(cam_layers(network, shape))
    default = _default_layer(config, network, shape, layers) if layers else None
    if default is not None and default not in dict(network.named_modules()):
        raise ModelConfigError(f"model {config.name!r}: cam_layer {default!r} is not a module")
    log.info("loaded %s (%s) on %s; ONNX gap %.2e", config.name, config.kind, device, abs_gap)
    return LoadedModel(config, classifier, onnx, device, layers, default, abs_gap, rel_gap)


def _default_layer(
    config: ModelConfig, network: nn.Module, shape: tuple[int, int, int], layers: tuple[str, ...]
) -> str | None:
    """model.toml's `cam_layer`, else timm's last feature stage (its pretrained config's
    `feature_info`) when it runs no later than the survey's choice, else that choice
    (layers.py): a ViT's last block comes after its survey pick, the input of the last
    attention, since past it only the class token reaches the logits."""
    if config.cam_layer:
        return config.cam_layer
    surveyed = default_cam_layer(network, shape)
    stage = timm_cam_layer(network) if (config.architecture or "").startswith("timm:") else None
    if stage in layers and surveyed is not None and layers.index(stage) <= layers.index(surveyed):
        # Only when the survey finds that it still reaches the logits at several positions
        # (a ViT's last block does not: after it only the class token counts).
        return stage
    return surveyed


def _check_outputs(config: ModelConfig, classifier: nn.Module) -> None:
    shape = (config.channels, config.height, config.width)
    with torch.no_grad():
        outputs = classifier(torch.rand(1, *shape))
    if outputs.shape != (1, config.num_classes):
        raise ModelConfigError(
            f"model {config.name!r} outputs shape {tuple(outputs.shape)}, "
            f"expected (1, {config.num_classes}) from its config"
        )


def _load_onnx_only(config: ModelConfig, device: torch.device) -> LoadedModel:
    """An ONNX-only model: ONNX Runtime behind the pixel-space classifier; no layers."""
    assert config.onnx is not None
    onnx = OnnxClassifier(read_onnx(config.onnx), device, config.mean, config.std)
    network = OrtNetwork(onnx.run, config.onnx.name)
    classifier = Classifier(network, config.mean, config.std).eval().to(device)
    _check_outputs(config, classifier.cpu())
    classifier.to(device)
    log.info("loaded %s (ONNX only, forward passes) on %s", config.name, device)
    return LoadedModel(config, classifier, onnx, device, (), None, 0.0, 0.0)


def load_network(config: ModelConfig, *, trust_torchscript: bool = False) -> nn.Module:
    """The network `config` names, loaded without running anything from its files.

    Safetensors are raw tensors; a `.pt` state dict is unpickled with `weights_only=True`; a
    `.pt2` archive is checked first (exported.py); a Hugging Face folder is built from its JSON
    config (huggingface.py). TorchScript cannot be made safe: the file is a program, and
    `torch.jit.load` runs its `__setstate__` methods, whose operators include `aten::save`
    (writes any file). It loads only when the operator vouches for the repository
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
    if config.huggingface is not None:
        return build_huggingface(config.huggingface)
    assert config.architecture is not None and config.weights is not None
    network = build_architecture(
        config.architecture, config.num_classes, dict(config.architecture_args), config.channels
    )
    state = _state_dict(config.weights)
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        message = f"{config.weights.name} does not fit the architecture: {error}"
        raise ModelConfigError(message) from None
    return network.eval()


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return safetensors.torch.load_file(str(path))
        except safetensors.SafetensorError as error:
            raise ModelConfigError(
                f"{path.name} is not a valid safetensors file: {error}"
            ) from None
    try:
        # Never arbitrary pickle: a plain state dict of tensors only.
        state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
        return state
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ModelConfigError(
            f"{path.name} is not a plain state dict "
            f"(only tensors load; arbitrary pickles are refused): {error}"
        ) from None
