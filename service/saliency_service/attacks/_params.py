"""Parameters that several attacks' records share: the L∞ budget, step size, steps, seeding."""

from __future__ import annotations

from saliency_service.params import Param

LINF_EPS = Param(
    "eps", "number", 8 / 255, "L∞ budget in pixel units of [0, 1]", minimum=0.0, maximum=1.0
)
ALPHA = Param("alpha", "number", 2 / 255, "step size in pixel units", minimum=0.0, maximum=1.0)
STEPS = Param("steps", "integer", 10, "number of iterations", minimum=1, maximum=1000)
RANDOM_START = Param("random_start", "flag", True, "start from a random point of the ε-ball")
SEED = Param("seed", "integer", 0, "seeds the random start", minimum=0, maximum=2**31 - 1)
EARLY_STOP = Param(
    "early_stop", "flag", False, "freeze each image once it is misclassified or at its target"
)
