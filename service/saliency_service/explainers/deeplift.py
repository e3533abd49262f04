"""DeepLIFT with the Rescale rule: ReLU and mobile-network activations, max-pool, gating.

A. Shrikumar, P. Greenside, A. Kundaje, "Learning Important Features Through Propagating
Activation Differences", ICML 2017 (arXiv:1704.02685). Multipliers `m = Δy/Δx` replace
gradients at nonlinearities and compose by the chain rule for multipliers; affine layers
(convolutions, eval-mode batch norm, linear, average pooling, residual sums) keep their
gradients, which are their multipliers. So `Σ (x − x') ⊙ m = f_c(x) − f_c(x')`
(summation-to-delta, eq. 1), up to rounding. The rules are in `_deeplift_rules`; a model with
a nonlinearity none of them covers is refused (`check_model`) rather than answered with a gap.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers._autograd import chunks, input_gradients
from saliency_service.explainers._deeplift_rules import NO_RULE, substitutes
from saliency_service.explainers._op_override import Substitution
from saliency_service.explainers._params import REFERENCE, reduce_param
from saliency_service.explainers._reduce import reduce_channels
from saliency_service.explainers._reference import baselines, completeness
from saliency_service.explainers.base import ExplainerSpec, Explanation, two_passes

# Module types whose function has no rule here: normalisations over several inputs, softmax,
# attention, other pools, and elementwise activations without a rule of their own.
_NO_RULE_MODULES: tuple[type[nn.Module], ...] = (
    nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.InstanceNorm1d, nn.InstanceNorm2d,
    nn.InstanceNorm3d, nn.Softmax, nn.Softmax2d, nn.LogSoftmax, nn.Softmin,
    nn.MultiheadAttention, nn.MaxPool1d, nn.MaxPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.FractionalMaxPool2d, nn.FractionalMaxPool3d,
    nn.LPPool1d, nn.LPPool2d, nn.GLU, nn.Bilinear, nn.PReLU, nn.RReLU, nn.LeakyReLU, nn.ELU,
    nn.CELU, nn.SELU, nn.Hardtanh, nn.Softplus, nn.Mish, nn.LogSigmoid, nn.Softsign,
    nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold, nn.RNNBase,
)  # fmt: skip
_NO_RULE_OPS = {
    f.overloadpacket: name for f, name in NO_RULE.items() if isinstance(f, torch._ops.OpOverload)
}


def check_model(model: nn.Module) -> None:
    """Refuse, before any compute, a model DeepLIFT's rules cannot follow.

    Looks at the modules and, for exported programs, at the operators of their graphs; a
    nonlinearity hidden in a custom `forward` is refused when the pass meets it.

    Raises:
        UnsupportedMethod: a TorchScript model (its graph never calls back into Python, where
            the rules are substituted), or a module or operator with no rule; names which.
    """
    for module in model.modules():
        if isinstance(module, torch.jit.ScriptModule):
            raise UnsupportedMethod(
                "deeplift cannot run on a TorchScript model: its graph never calls the Python "
                "functions DeepLIFT's rules replace; use integrated_gradients"
            )
        if isinstance(module, _NO_RULE_MODULES):
            raise UnsupportedMethod(
                f"deeplift has no rule for the {type(module).__name__} modules of this model; "
                "use integrated_gradients"
            )
        graph = getattr(module, "graph", None)
        nodes = graph.nodes if isinstance(graph, torch.fx.Graph) else ()
        for node in nodes:
            packet = getattr(node.target, "overloadpacket", None)
            if node.op == "call_function" and packet in _NO_RULE_OPS:
                raise UnsupportedMethod(
                    f"deeplift has no rule for the {_NO_RULE_OPS[packet]} operators of this "
                    "model; use integrated_gradients"
                )


def deeplift(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    baseline: str = "black",
    blur_sigma: float = 5.0,
    seed: int = 0,
    baseline_image: Tensor | np.ndarray | None = None,
    reduce: str = "sum",
    chunk_size: int | None = None,
) -> Explanation:
    """DeepLIFT-Rescale contributions `(x − x') ⊙ m` of each pixel to `f_c(x) − f_c(x')`.

    Every nonlinearity follows one of the rules in `_deeplift_rules` (ReLUs in any spelling,
    in place or reused, included), or the model is refused.

    Args:
        model: maps pixels in [0, 1] to logits; rows must not interact (eval mode).
        images: the batch, in [0, 1].
        targets: one class per image.
        baseline: the reference x' (see `_reference.baselines`): "black", "blurred",
            "uniform" or "given".
        blur_sigma: blur in pixels for the "blurred" baseline.
        seed: seeds the "uniform" baseline.
        baseline_image: the "given" baseline, (H, W, C) in [0, 1] pixel space.
        reduce: channel reduction for the heatmap; "sum" keeps summation-to-delta.
        chunk_size: most rows per forward/backward pass, each image taking two (x and x');
            None for all at once.

    Returns:
        attributions, their channel reduction as heatmap, and per image the diagnostics
        "score_delta", "completeness_gap" (the summation-to-delta gap) and
        "relative_completeness_gap".

    Raises:
        UnsupportedMethod: `check_model` refuses the model; the pass met a function with no
            rule; or no rule applied at all (nothing nonlinear was called through Python).

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W); attributions (N, C, H, W);
        each diagnostic (N,).
    """
    check_model(model)
    references = baselines(
        images, baseline, blur_sigma=blur_sigma, seed=seed, baseline_image=baseline_image
    )
    multipliers, scores, reference_scores = [], [], []
    images_per_pass = None if chunk_size is None else max(1, chunk_size // 2)
    for rows in chunks(len(images), images_per_pass):
        pairs = torch.cat([images[rows], references[rows]])
        with Substitution(substitutes(len(images[rows]))) as substitution:
            gradient, score = input_gradients(model, pairs, targets[rows].repeat(2))
        if substitution.calls == 0:
            raise UnsupportedMethod(
                "deeplift found no nonlinearity to apply its rules to (ReLU, max-pool, ...): "
                "the model has none, or runs outside Python"
            )
        multipliers.append(gradient.chunk(2)[0])
        scores.append(score.chunk(2)[0])
        reference_scores.append(score.chunk(2)[1])
    attributions = (images - references) * torch.cat(multipliers)
    return Explanation(
        heatmap=reduce_channels(attributions, reduce),
        attributions=attributions,
        diagnostics=completeness(attributions, torch.cat(scores), torch.cat(reference_scores)),
    )


DEEPLIFT = ExplainerSpec(
    name="deeplift",
    function=deeplift,
    params=(*REFERENCE, reduce_param("sum")),
    description="DeepLIFT Rescale rule: contributions of each pixel to f(x) − f(x') "
    "(Shrikumar et al. 2017); reports the summation-to-delta gap as completeness_gap",
    check_model=check_model,
    passes=two_passes,
    attributions=True,
)
