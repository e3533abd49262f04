"""The attack registry: one literal entry per short name of the proto enum AttackMethod.

Every function takes pixels in [0, 1] and returns an `AttackOutput`; `choose_targets` turns a
request's `target_mode` into the `targets` argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.attacks.bim import bim
from saliency_service.attacks.cw import cw_l2
from saliency_service.attacks.deepfool import deepfool
from saliency_service.attacks.fgsm import fgsm
from saliency_service.attacks.mi_fgsm import mi_fgsm
from saliency_service.attacks.minimal_epsilon import INNER_ATTACKS, minimal_epsilon
from saliency_service.attacks.pgd import pgd
from saliency_service.attacks.pgd_l2 import pgd_l2
from saliency_service.attacks.simba import simba
from saliency_service.attacks.targets import TARGET_MODES, choose_targets
from saliency_service.params import Param

__all__ = ["ATTACKS", "TARGET_MODES", "AttackOutput", "AttackSpec", "choose_targets"]

_LINF_EPS = Param(
    "eps", "number", 8 / 255, "L∞ budget in pixel units of [0, 1]", minimum=0.0, maximum=1.0
)
_ALPHA = Param("alpha", "number", 2 / 255, "step size in pixel units", minimum=0.0, maximum=1.0)
_STEPS = Param("steps", "integer", 10, "number of iterations", minimum=1, maximum=1000)
_RANDOM_START = Param("random_start", "flag", True, "start from a random point of the ε-ball")
_SEED = Param("seed", "integer", 0, "seeds the random start", minimum=0, maximum=2**31 - 1)
_EARLY_STOP = Param(
    "early_stop", "flag", False, "freeze each image once it is misclassified or at its target"
)


def _one_step(_params: Mapping[str, object]) -> float:
    return 2.0


def _bim_passes(params: Mapping[str, object]) -> float:
    """Given steps, or the automatic count for the request's ε: min(ε·255 + 4, 1.25·ε·255)."""
    steps = cast(int, params["steps"])
    if not steps:
        eps = 255 * cast(float, params["eps"])
        steps = max(1, math.ceil(min(eps + 4, 1.25 * eps)))
    return steps + 1.0


def _deepfool_passes(params: Mapping[str, object]) -> float:
    """Each step is one forward+backward over the label and every candidate class."""
    return cast(int, params["steps"]) * (cast(int, params["candidates"]) + 1.0)


def _simba_passes(params: Mapping[str, object]) -> float:
    """Two forward passes per coordinate tried, a forward pass a third of a forward+backward."""
    return (2 * cast(int, params["steps"]) + 1) / 3


def _minimal_epsilon_passes(params: Mapping[str, object]) -> float:
    """A bisection of ε over [0, max_eps] to `precision`, each probe a whole attack."""
    probes = 2 + math.ceil(math.log2(max(cast(float, params["max_eps"]), 1e-12)
                                     / cast(float, params["precision"])))
    return max(probes, 1) * (cast(int, params["steps"]) + 1.0)


ATTACKS: dict[str, AttackSpec] = {
    "fgsm": AttackSpec(
        name="fgsm",
        function=fgsm,
        params=(_LINF_EPS,),
        description="Fast Gradient Sign Method: one signed-gradient step of size ε (L∞).",
        passes=_one_step,
        autocast=True,
    ),
    "bim": AttackSpec(
        name="bim",
        function=bim,
        params=(
            _LINF_EPS,
            _ALPHA,
            Param(
                "steps",
                "integer",
                10,
                "number of iterations; 0 picks min(ε·255 + 4, 1.25·ε·255) per image",
                minimum=0,
                maximum=1000,
            ),
            _EARLY_STOP,
        ),
        description="Basic Iterative Method: FGSM steps of size α clipped to the ε-ball (L∞).",
        passes=_bim_passes,
        autocast=True,
    ),
    "pgd": AttackSpec(
        name="pgd",
        function=pgd,
        params=(_LINF_EPS, _ALPHA, _STEPS, _RANDOM_START, _SEED, _EARLY_STOP),
        description="Projected Gradient Descent (L∞): BIM from a random point of the ε-ball.",
        autocast=True,
    ),
    "pgd_l2": AttackSpec(
        name="pgd_l2",
        function=pgd_l2,
        params=(
            Param("eps", "number", 0.5, "L2 budget in pixel units", minimum=0.0, maximum=1000.0),
            Param("alpha", "number", 0.1, "L2 step length", minimum=0.0, maximum=1000.0),
            _STEPS,
            _RANDOM_START,
            _SEED,
            _EARLY_STOP,
        ),
        description="Projected Gradient Descent (L2): normalised steps projected onto the L2 ball.",
    ),
    "mi_fgsm": AttackSpec(
        name="mi_fgsm",
        function=mi_fgsm,
        params=(
            _LINF_EPS,
            _ALPHA,
            _STEPS,
            Param("decay", "number", 1.0, "momentum decay μ", minimum=0.0, maximum=10.0),
            _EARLY_STOP,
        ),
        description="Momentum Iterative FGSM: BIM stepping along an L1-normalised momentum (L∞).",
        autocast=True,
    ),
    "deepfool": AttackSpec(
        name="deepfool",
        function=deepfool,
        params=(
            Param("steps", "integer", 50, "maximum iterations", minimum=1, maximum=1000),
            Param(
                "overshoot",
                "number",
                0.02,
                "lengthens each step by 1 + overshoot",
                minimum=0.0,
                maximum=1.0,
            ),
            Param(
                "candidates",
                "integer",
                10,
                "classes besides the label considered, by highest clean logit",
                minimum=1,
                maximum=100000,
            ),
        ),
        description="DeepFool: steps to the nearest linearised decision boundary (L2, untargeted).",
        targeted=False,
        passes=_deepfool_passes,
    ),
    "cw_l2": AttackSpec(
        name="cw_l2",
        function=cw_l2,
        params=(
            Param(
                "c", "number", 1.0, "weight of the misclassification term", minimum=0.0, maximum=1e6
            ),
            Param("kappa", "number", 0.0, "confidence margin κ", minimum=0.0, maximum=1e6),
            Param("steps", "integer", 50, "Adam iterations", minimum=1, maximum=10000),
            Param("lr", "number", 0.01, "Adam learning rate", minimum=1e-6, maximum=10.0),
        ),
        description="Carlini–Wagner L2: Adam on a tanh-space image, smallest successful kept.",
    ),
    "minimal_epsilon": AttackSpec(
        name="minimal_epsilon",
        function=minimal_epsilon,
        params=(
            Param(
                "attack", "text", "bim", "the L∞ attack whose ε is searched", choices=INNER_ATTACKS
            ),
            Param("steps", "integer", 10, "iterations of bim/pgd", minimum=1, maximum=1000),
            Param(
                "precision",
                "number",
                1 / 255,
                "resolution of the ε found",
                minimum=1e-4,
                maximum=1.0,
            ),
            Param("max_eps", "number", 64 / 255, "largest ε searched", minimum=0.0, maximum=1.0),
            _SEED,
        ),
        description="The smallest L∞ ε (per image) at which FGSM, BIM or PGD flips the label.",
        passes=_minimal_epsilon_passes,
    ),
    "simba": AttackSpec(
        name="simba",
        function=simba,
        params=(
            _LINF_EPS,
            Param(
                "steps",
                "integer",
                1000,
                "pixel coordinates tried per image (two forward passes each, at most)",
                minimum=1,
                maximum=100000,
            ),
            Param(
                "seed", "integer", 0, "seeds the order of the coordinates", minimum=0,
                maximum=2**31 - 1,
            ),
        ),
        description="SimBA (Guo et al. 2019): black-box, from the model's probabilities alone; "
        "each pixel coordinate in a random order moves by ±ε if that lowers the label's "
        "probability (L∞). Runs on ONNX-only models.",
        passes=_simba_passes,
        forward_only=True,
    ),
}
