"""Which layers of a network CAM methods can explain, and which one they use by default.

Both answers come from one survey: a forward and a backward pass of one seeded random input at
the model's input size, with every module recorded by `_layer_capture.layer_recorder`.

- A CAM layer is a module that runs once per forward pass and whose output reads as a feature
  map (the layouts of `_layer_capture`: channels-first, channels-last as swin_t, or a square
  grid of ViT tokens) larger than 1 x 1.
- The default is the last such module (outermost, when a block and its last child give the same
  map) that is not a pooling layer or a block ending in one (vgg16's last max-pool halves the
  map the Grad-CAM paper uses, relu5_3), and whose map still reaches the logits at more than one
  position: after ViT's last attention only the class token does, so its default is the last
  block's `ln_1`, the input of the last attention. Nor is the default a linear layer: in a
  transformer those are the attention's query/key/value projections (the last to reach every
  position), whose channels mix three different things; the norm before them is the map.

This gives resnet* "layer4", vgg16 "features.29", densenet121, mobilenet_v3_*, efficientnet_b0
and convnext_tiny "features", swin_t "permute" (the normalised last stage, channels-first) and
vit_b_16 "encoder.layers.encoder_layer_11.ln_1", timm's ViT "blocks.<last>.norm1", Hugging Face's
ViT "model.vit.layers.<last>.layernorm_before". The network must be in eval mode (the survey
must not move batch-norm statistics). TorchScript modules take no hooks, so they list none.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from saliency_service.models.feature_maps import Recording, as_feature_map, layer_recorder

_POOLING = (
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.LPPool2d,
    nn.FractionalMaxPool2d,
)


def cam_layers(network: nn.Module, shape: tuple[int, int, int]) -> list[str]:
    """Names (as `named_modules` spells them) of the modules CAM methods can explain, in order.

    Args:
        network: the network, in eval mode, on any device.
        shape: (C, H, W) of one input.
    """
    return [survey.name for survey in _survey(network, shape)]


def default_cam_layer(network: nn.Module, shape: tuple[int, int, int]) -> str | None:
    """The layer CAM methods use when a request names none, or None if there is no candidate.

    Args:
        network: the network, in eval mode, on any device.
        shape: (C, H, W) of one input.
    """
    chosen = [
        s.name for s in _survey(network, shape) if s.reaches_logits and not (s.pools or s.linear)
    ]
    return chosen[-1] if chosen else None


@dataclass(frozen=True)
class _Surveyed:
    name: str
    pools: bool
    reaches_logits: bool
    linear: bool


def _survey(network: nn.Module, shape: tuple[int, int, int]) -> list[_Surveyed]:
    """The CAM layers in the order their forward calls finish (a block after its children)."""
    if isinstance(network, torch.jit.ScriptModule):
        return []
    modules = {name: module for name, module in network.named_modules() if name}
    finished: list[str] = []
    inputs: dict[str, object] = {}
    recordings: dict[str, Recording] = {}
    parameter = next(network.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    image = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    with ExitStack() as stack, torch.enable_grad():
        for name, module in modules.items():
            recordings[name] = stack.enter_context(layer_recorder(module))
            handle = module.register_forward_hook(partial(_finish, name, finished, inputs))
            stack.callback(handle.remove)
        network(image)
    maps = {
        name: recording.output
        for name, recording in recordings.items()
        if recording.calls == 1 and isinstance(recording.output, Tensor)
    }
    maps = {name: output for name, output in maps.items() if _readable(output, shape)}
    last_leaf: dict[str, str] = {}
    leaf = ""
    for name in finished:
        if next(modules[name].children(), None) is None:
            leaf = name
        last_leaf[name] = leaf
    reaching = _reaching(inputs.get(leaf), maps, shape)
    return [
        _Surveyed(
            name,
            isinstance(modules[last_leaf[name]], _POOLING),
            name in reaching,
            isinstance(modules[name], nn.Linear),
        )
        for name in dict.fromkeys(finished)
        if name in maps
    ]


def _readable(output: Tensor, shape: tuple[int, int, int]) -> bool:
    feature_map = as_feature_map(output, (shape[1], shape[2]))
    return feature_map is not None and feature_map.shape[2] * feature_map.shape[3] > 1


def _finish(
    name: str,
    finished: list[str],
    inputs: dict[str, object],
    module: nn.Module,
    args: tuple[object, ...],
    output: object,
) -> None:
    finished.append(name)
    inputs[name] = args[0] if args else None


def _reaching(features: object, maps: dict[str, Tensor], shape: tuple[int, int, int]) -> set[str]:
    """Names of the maps whose gradient from `features` is non-zero at more than one position.

    `features` is the input of the last module to run (the classifier's last layer), not the
    logits: torchvision's ViT zero-initialises `heads.head`, so with random weights nothing
    would reach its logits.
    """
    names = [name for name, output in maps.items() if output.requires_grad]
    if not names or not isinstance(features, Tensor) or not features.requires_grad:
        return set()
    # A random direction, not the sum: the sum of a LayerNorm's outputs (ViT's `encoder.ln`) is
    # a constant whose gradient vanishes.
    direction = torch.randn(features.shape, generator=torch.Generator().manual_seed(1))
    gradients = torch.autograd.grad(
        (features * direction.to(features.device)).sum(),
        [maps[name] for name in names],
        allow_unused=True,
        materialize_grads=True,
    )
    reaching = set()
    for name, gradient in zip(names, gradients, strict=True):
        grid = as_feature_map(gradient, (shape[1], shape[2]))
        if grid is not None and int((grid != 0).any(dim=1).sum()) > 1:
            reaching.add(name)
    return reaching
