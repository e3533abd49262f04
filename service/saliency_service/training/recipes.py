"""Training recipes: what each step trains on, where its perturbation starts, which loss it takes.

The nine rows of the SAT paper's first table (Mangla, Singh and Balasubramanian, "On Saliency
Maps and Adversarial Robustness", ECML-PKDD 2020), plus FGSM with a random start:

| recipe         | start of the perturbation            | then                     | loss         |
|----------------|--------------------------------------|--------------------------|--------------|
| `standard`     | none                                 | —                        | CE(x)        |
| `noise`        | ε·z, z uniform in {−1, 1}ᵈ           | —                        | CE(x')       |
| `sat`          | ε·δᵗ, the SAT rule                   | —                        | CE(x')       |
| `pgd`          | U(−ε, ε)ᵈ (Madry et al. 2018)        | PGD on CE, `steps`       | CE(x')       |
| `pgd_noise`    | ε·z                                  | PGD on CE, `steps`       | CE(x')       |
| `pgd_sat`      | ε·δᵗ                                 | PGD on CE, `steps`       | CE(x')       |
| `trades`       | 0.001·N(0, 1)ᵈ (Zhang et al. 2019)   | ascent on KL, `steps`    | TRADES(β)    |
| `trades_noise` | ε·z                                  | ascent on KL, `steps`    | TRADES(β)    |
| `trades_sat`   | ε·δᵗ                                 | ascent on KL, `steps`    | TRADES(β)    |
| `fgsm_rs`      | U(−ε, ε)ᵈ (Wong et al. 2020)         | one step of 1.25ε        | CE(x')       |

SAT's rule (the slides' "Algorithm"): in epoch t (from 1), δᵗ[i] = z[i] with probability αᵗ,
else −s[i], with s the saliency of the true class thresholded to ±1 (or a mask or box as a
weak saliency map: +1 on the object, −1 elsewhere). The "+ noise" rows are the same rule with
αᵗ = 1, so they differ from the SAT rows only in the saliency. The slides say PGD-SAT and
TRADES-SAT train "much faster" than PGD and TRADES: the saliency start stands in for attack
steps, so their default is fewer steps (3 against 7), and so is that of the "+ noise" rows,
which isolate what the saliency adds at the same cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

Start = Literal["none", "uniform", "sign_noise", "sat", "gaussian"]
Inner = Literal["none", "pgd", "trades"]


@dataclass(frozen=True)
class RecipeKind:
    """What a recipe does; `Recipe` holds the numbers it does it with."""

    start: Start
    inner: Inner
    default_steps: int
    description: str


RECIPES: dict[str, RecipeKind] = {
    "standard": RecipeKind("none", "none", 0, "cross-entropy on the clean images"),
    "noise": RecipeKind("sign_noise", "none", 0, "cross-entropy on x + ε·z, z random signs"),
    "sat": RecipeKind("sat", "none", 0, "saliency-based adversarial training (SAT): "
                      "cross-entropy on x + ε·δ, δ from the saliency map by the SAT rule"),
    "pgd": RecipeKind("uniform", "pgd", 7, "PGD adversarial training (Madry et al. 2018)"),
    "pgd_noise": RecipeKind("sign_noise", "pgd", 3, "PGD training from x + ε·z"),
    "pgd_sat": RecipeKind("sat", "pgd", 3, "PGD training from the SAT perturbation (PGD-SAT)"),
    "trades": RecipeKind("gaussian", "trades", 7, "TRADES (Zhang et al. 2019): cross-entropy "
                         "+ β·KL(f(x) ‖ f(x')), x' maximising the KL in the ε-ball"),
    "trades_noise": RecipeKind("sign_noise", "trades", 3, "TRADES from x + ε·z"),
    "trades_sat": RecipeKind("sat", "trades", 3, "TRADES from the SAT perturbation (TRADES-SAT)"),
    "fgsm_rs": RecipeKind("uniform", "pgd", 1, "FGSM from a random start, step 1.25ε "
                          "(Wong, Rice and Kolter 2020, \"Fast is better than free\")"),
}


@dataclass(frozen=True)
class Recipe:
    """A recipe by name with its numbers; `steps` and `step_size` 0 take the recipe's defaults
    (see `resolved`).

    eps: the L∞ training budget in pixel units of [0, 1].
    steps: attack steps per training step (PGD, TRADES); step_size: their step, α.
    beta: TRADES' weight of the robustness term.
    sat_alpha: α of the SAT schedule (the share of random signs in epoch t is αᵗ).
    """

    name: str = "standard"
    eps: float = 2 / 255
    steps: int = 0
    step_size: float = 0.0
    beta: float = 6.0
    sat_alpha: float = 0.8

    @property
    def kind(self) -> RecipeKind:
        return RECIPES[self.name]

    def resolved(self) -> Recipe:
        """The recipe checked, with its default steps and step size filled in.

        Default step sizes: 2.5·ε/steps, so that the attack can cross the ε-ball (Madry et al.,
        appendix), and 1.25·ε for FGSM with a random start (Wong et al.).

        Raises:
            ValueError: an unknown name, or a number out of range; the message says which.
        """
        if self.name not in RECIPES:
            raise ValueError(f"unknown recipe {self.name!r}; known: {', '.join(RECIPES)}")
        if not (math.isfinite(self.eps) and 0 <= self.eps <= 1):
            raise ValueError(f"eps must be in [0, 1], got {self.eps}")
        if self.steps < 0 or self.step_size < 0 or self.beta < 0:
            raise ValueError("steps, step_size and beta must not be negative")
        if not 0 < self.sat_alpha < 1:
            raise ValueError(f"sat_alpha must be in (0, 1), got {self.sat_alpha}")
        kind = self.kind
        if kind.inner == "none":
            return replace(self, steps=0, step_size=0.0)
        steps = self.steps or kind.default_steps
        default_size = 1.25 * self.eps if self.name == "fgsm_rs" else 2.5 * self.eps / steps
        return replace(self, steps=steps, step_size=self.step_size or default_size)

    @property
    def needs_saliency(self) -> bool:
        return self.kind.start == "sat"

    def sat_probability(self, epoch: int) -> float:
        """αᵗ: the chance that a component of δ is a random sign in epoch `epoch` (from 1)."""
        return float(self.sat_alpha**epoch)
