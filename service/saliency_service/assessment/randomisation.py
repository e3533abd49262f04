"""Sanity checks: does the map depend on what the model learnt, and on the class explained?

Model parameter randomisation: J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt,
B. Kim, "Sanity Checks for Saliency Maps", NeurIPS 2018, §3.1 (cascading randomisation): the
layers are re-initialised one by one from the top (the output) down, and after each the map of
the same input and class is compared with the original map (Spearman rank correlation, SSIM or
HOG similarity, of absolute values by default, as the paper does). A map that stays similar as
the weights are destroyed explains little of the model: lower is better. The curve is the
similarity after each checkpoint; the score its mean over the cascade (Quantus's
`return_average_correlation`): the similarity once every layer is random says little by itself,
since the last layers re-initialised (the first convolutions) change every method's map.

Layers are the modules that hold parameters (or batch-norm statistics), in reverse definition
order. Each is re-initialised as PyTorch initialises it (`reset_parameters`: Kaiming-uniform
weights and uniform biases for convolutions and linear layers, unit scale and zero shift for
normalisation layers), any other parameter from a Gaussian of its own root-mean-square, from
its own seeded generator (layer i: `sample_generator(seed, i)`).

Random-logit test: L. Sixt, M. Granz, T. Landgraf, "When Explanations Lie: Why Many Modified BP
Attributions Fail", ICML 2020: the similarity between the map of the explained class and the
map of another class drawn at random. A map that ignores the class is as similar to one as to
the other: lower is better.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd

from saliency_service.assessment._perturb import SEED
from saliency_service.assessment.base import Params, Result, integer, sample_generator, text
from saliency_service.assessment.similarity import SIMILARITIES, similarity
from saliency_service.params import Param

_NORMS = (_NormBase, nn.LayerNorm, nn.GroupNorm)


def _similarity_param(default: str) -> Param:
    return Param("similarity", "text", default, "how maps are compared: Spearman rank "
                 "correlation, SSIM, or the correlation of their HOG features",
                 choices=SIMILARITIES)


_ABSOLUTE = Param("absolute", "flag", True, "compare the maps' absolute values")
RANDOMISATION_PARAMS = (
    _similarity_param("spearman"),
    _ABSOLUTE,
    Param("checkpoints", "integer", 0, "maps compared after this many evenly spaced layers "
          "(always the last); 0: after every layer", minimum=0, maximum=4096),
    SEED,
)
RANDOM_LOGIT_PARAMS = (
    _similarity_param("ssim"),
    Param("absolute", "flag", False, "compare the maps' absolute values"),
    SEED,
)


def parameter_layers(network: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules cascading randomisation re-initialises, top (output) first."""
    layers = [
        (name, module)
        for name, module in network.named_modules()
        if name and (isinstance(module, _NORMS) or any(True for _ in module.parameters(False)))
    ]
    return layers[::-1]


@torch.no_grad()
def reinitialise(module: nn.Module, generator: torch.Generator) -> None:
    """Draw `module`'s own parameters afresh (see the module docstring); buffers of batch norm
    are reset. Draws happen on the CPU, so a seed gives the same weights on any device."""
    if isinstance(module, _NORMS):
        module.reset_parameters()
        return
    if isinstance(module, (_ConvNd, nn.Linear)):
        weight = torch.empty(module.weight.shape, dtype=module.weight.dtype)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
        module.weight.copy_(weight)
        if module.bias is not None:
            fan_in = weight[0].numel()
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            bias = torch.empty(module.bias.shape, dtype=module.bias.dtype)
            module.bias.copy_(bias.uniform_(-bound, bound, generator=generator))
        return
    for parameter in module.parameters(False):
        scale = float(parameter.double().square().mean().sqrt())
        draws = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
        parameter.copy_(draws * scale)


def checkpoint_positions(layers: int, checkpoints: int) -> list[int]:
    """1-based counts of randomised layers after which maps are compared."""
    if checkpoints == 0 or checkpoints >= layers:
        return list(range(1, layers + 1))
    spaced = torch.linspace(1, layers, checkpoints).round().long().tolist()
    return sorted(set(spaced))


def cascade(network: nn.Module, seed: int, checkpoints: int) -> Iterator[str]:
    """Re-initialise `network`'s layers top-down, in place; pause (yield the last layer's name)
    at each checkpoint, so the caller can take maps of the model as it is then."""
    layers = parameter_layers(network)
    pauses = set(checkpoint_positions(len(layers), checkpoints))
    for index, (name, module) in enumerate(layers):
        reinitialise(module, sample_generator(seed, index))
        if index + 1 in pauses:
            yield name


def checkpoint_count(network: nn.Module, params: Params) -> int:
    """How many randomised models' maps the metric takes (for pricing)."""
    return len(checkpoint_positions(len(parameter_layers(network)), integer(params, "checkpoints")))


def _compared(a: Tensor, b: Tensor, params: Params) -> Tensor:
    if params["absolute"]:
        a, b = a.abs(), b.abs()
    return similarity(a, b, text(params, "similarity"))


def model_randomisation(
    original: Tensor, randomised: Tensor, names: Sequence[str], params: Params
) -> Result:
    """Similarity of each image's original map with its map after each checkpoint, and its
    mean over the checkpoints (those where it is defined: a map of zeros has no ranks).

    Shape:
        original: (N, H, W); randomised: (N, L, H, W); values (N,); curves (N, L), labelled
        by `names`, the last layer randomised at each checkpoint.
    """
    n, layers = randomised.shape[:2]
    flat = randomised.flatten(0, 1)
    repeated = original[:, None].expand_as(randomised).flatten(0, 1)
    curves = _compared(repeated, flat, params).view(n, layers)
    return Result(curves.nanmean(dim=1), curves, [float(i) for i in range(1, layers + 1)],
                  list(names))


def off_classes(targets: Tensor, classes: int, seed: int) -> Tensor:
    """A class other than each target, uniform over the others (the same draw for every image:
    the k-th class after leaving the target out).

    Shape:
        targets: (N,); returns (N,).
    """
    draw = int(torch.randint(classes - 1, (1,), generator=sample_generator(seed, 0)))
    return torch.where(torch.full_like(targets, draw) < targets, draw, draw + 1)


def random_logit_inputs(
    images: Tensor, targets: Tensor, classes: int, params: Params, _k: int
) -> tuple[Tensor, Tensor]:
    """The images, each for a class other than its own."""
    return images, off_classes(targets, classes, integer(params, "seed"))


def random_logit(
    images: Tensor, heatmaps: Tensor, maps: Tensor, _targets: Tensor, params: Params
) -> Result:
    """Similarity of each map with the map of another class.

    Shape:
        heatmaps: (N, H, W); maps: (N, 1, H, W); values (N,).
    """
    return Result(_compared(heatmaps, maps[:, 0], params))
