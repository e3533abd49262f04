"""Layer-wise Relevance Propagation with named composites, for CNNs as torchvision builds them.

S. Bach et al., "On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise
Relevance Propagation", PLoS ONE 2015; G. Montavon et al., "Layer-Wise Relevance Propagation:
An Overview", 2019 (the composites: ε for dense layers, z⁺ or γ for convolutions, flat or z^B for
the first layer). The explained logit `f_c(x)` is the relevance put at the output; the rules
(`_lrp_rules`) pass it down layer by layer, canonizing the network on the way (`_lrp_pass`), and
the first layer's input relevance is the map. Conservation says `Σ_i R_i = f_c(x)`; biases,
ε and the stabilisers absorb some, which the `conservation_gap` diagnostic reports.

Composites carry zennit's names and rules. One convention differs from running zennit on the
bare network: zennit's usual output relevance is the one-hot class indicator, here it is the
logit itself (so relevance sums to the explained score); every rule is linear in the relevance
above it, so the maps differ by exactly that factor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers._autograd import chunks
from saliency_service.explainers._lrp_pass import Composite, LrpPass
from saliency_service.explainers._lrp_rules import Rule
from saliency_service.explainers._reduce import reduce_channels, reduce_param
from saliency_service.explainers.base import ExplainerSpec, Explanation
from saliency_service.models.classifier import Classifier
from saliency_service.params import Param

COMPOSITES: tuple[str, ...] = (
    "epsilon_plus_flat",
    "epsilon_gamma_box",
    "epsilon_plus",
    "epsilon_alpha2_beta1",
    "epsilon_alpha2_beta1_flat",
)
# Leaf modules whose function the rules cover; containers (Sequential, blocks) are looked into.
_COVERED: tuple[type[nn.Module], ...] = (
    nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.BatchNorm1d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d,
    nn.AdaptiveAvgPool2d, nn.Dropout, nn.Flatten, nn.Identity,
)  # fmt: skip


def rules_of(name: str, epsilon: float, gamma: float) -> Composite:
    """The rules of composite `name` (zennit's composites of the same name).

    Raises:
        ValueError: unknown name.
    """
    dense = Rule("epsilon", epsilon=epsilon)
    plus = Rule("alpha_beta", alpha=1.0, beta=0.0)
    two_one = Rule("alpha_beta", alpha=2.0, beta=1.0)
    flat = Rule("flat")
    table = {
        "epsilon_plus_flat": Composite(plus, dense, flat, first_any=True),
        "epsilon_gamma_box": Composite(Rule("gamma", gamma=gamma), dense, Rule("z_box")),
        "epsilon_plus": Composite(plus, dense),
        "epsilon_alpha2_beta1": Composite(two_one, dense),
        "epsilon_alpha2_beta1_flat": Composite(two_one, dense, flat, first_any=True),
    }
    if name not in table:
        raise ValueError(f"unknown LRP composite {name!r}; valid: {', '.join(COMPOSITES)}")
    return table[name]


def check_model(model: nn.Module) -> None:
    """Refuse, before any compute, a model whose layers LRP's rules do not cover.

    Raises:
        UnsupportedMethod: a TorchScript or exported graph (the rules attach to Python calls),
            a padded-by-reflection convolution, or a leaf module with no rule; names which.
    """
    for module in model.modules():
        if isinstance(module, (torch.jit.ScriptModule, torch.fx.GraphModule)) or isinstance(
            getattr(module, "graph", None), torch.fx.Graph
        ):
            raise UnsupportedMethod(
                "lrp needs the network as PyTorch modules: TorchScript and exported graphs "
                "call no Python function its rules could attach to; use integrated_gradients"
            )
        if isinstance(module, nn.Conv2d) and module.padding_mode != "zeros":
            raise UnsupportedMethod(f"lrp has no rule for {module.padding_mode!r} padding")
        if next(module.children(), None) is None and not isinstance(module, _COVERED):
            raise UnsupportedMethod(
                f"lrp has no rule for the {type(module).__name__} modules of this model; it "
                "covers convolutions, linear layers, batch norm, ReLU, max and average "
                "pooling, residual additions and concatenations (vgg, resnet, densenet)"
            )


def lrp(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    composite: str = "epsilon_plus_flat",
    epsilon: float = 1e-6,
    gamma: float = 0.25,
    reduce: str = "sum",
    chunk_size: int | None = None,
) -> Explanation:
    """Relevance of each pixel (and channel) for the logit of each image's target class.

    Args:
        model: pixels in [0, 1] to logits, in eval mode; a `Classifier` says its
            normalisation, which sets z^B's bounds (pixels 0 and 1, normalised).
        images: the batch, in [0, 1].
        targets: one class per image.
        composite: which rules (see `rules_of`).
        epsilon: the ε rule's ε (dense layers).
        gamma: the γ rule's γ (convolutions of epsilon_gamma_box).
        reduce: channel reduction for the heatmap; "sum" keeps Σ heatmap = Σ relevance.
        chunk_size: most images per pass; None for all at once.

    Returns:
        attributions: relevance per pixel and channel; heatmap: its reduction; diagnostics
        "conservation_gap" (`Σ R − f_c(x)`) and "relative_conservation_gap" (`|gap| / |f_c|`).

    Raises:
        UnsupportedMethod: `check_model` refuses the model, or the pass met a function with no
            rule.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W); attributions (N, C, H, W).
    """
    check_model(model)
    rules = rules_of(composite, epsilon, gamma)
    bounds = _bounds(model, images)
    relevances, scores = [], []
    for rows in chunks(len(images), chunk_size):
        leaf = images[rows].detach().requires_grad_(True)
        with torch.enable_grad():
            with LrpPass(rules, bounds) as rule_pass:
                logits = model(leaf)
            picked = logits.gather(1, targets[rows, None])
            # Relevance at the output: the logit itself, on the target class only.
            torch.autograd.grad(logits, leaf, torch.zeros_like(logits).scatter(
                1, targets[rows, None], picked.detach()))
        if len(rule_pass.captured) != 1 or rule_pass.captured[0].shape != leaf.shape:
            raise UnsupportedMethod(
                "lrp could not follow this model to its input: its first layer does not take "
                "the image's pixels one to one"
            )
        relevances.append(rule_pass.captured[0])
        scores.append(picked.detach()[:, 0])
    relevance = torch.cat(relevances)
    score = torch.cat(scores)
    gap = relevance.sum(dim=(1, 2, 3)) - score
    tiny = torch.finfo(score.dtype).tiny
    return Explanation(
        heatmap=reduce_channels(relevance, reduce),
        attributions=relevance,
        diagnostics={
            "conservation_gap": gap,
            "relative_conservation_gap": gap.abs() / score.abs().clamp_min(tiny),
        },
    )


def _bounds(model: nn.Module, images: Tensor) -> tuple[Tensor, Tensor]:
    """z^B's bounds in the first layer's input space: pixels 0 and 1 through the normalisation."""
    channels = (1, images.shape[1], 1, 1)
    low, high = images.new_zeros(channels), images.new_ones(channels)
    if isinstance(model, Classifier):
        mean = cast(Tensor, model.mean).to(images)
        std = cast(Tensor, model.std).to(images)
        return (low - mean) / std, (high - mean) / std
    return low, high


def _passes(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    # A backward pass with rules runs two to four modified convolutions per layer.
    return 2.0 if "plus" in str(params["composite"]) else 3.0


LRP = ExplainerSpec(
    name="lrp",
    function=lrp,
    params=(
        Param(
            "composite",
            "text",
            "epsilon_plus_flat",
            "the rules per layer, zennit's composites: ε for dense layers; z⁺ (α1β0), α2β1 or "
            "γ for convolutions; flat or z^B for the first layer",
            choices=COMPOSITES,
        ),
        Param("epsilon", "number", 1e-6, "the ε rule's ε (dense layers)", 1e-9, 1e3),
        Param("gamma", "number", 0.25, "the γ rule's γ (epsilon_gamma_box)", 0.0, 1e3),
        reduce_param("sum"),
    ),
    description="layer-wise relevance propagation: the logit passed down by per-layer rules "
    "(Bach et al. 2015, Montavon et al. 2019); batch norms merged, residual sums split; "
    "reports the conservation gap",
    passes=_passes,
    check_model=check_model,
    attributions=True,
)
