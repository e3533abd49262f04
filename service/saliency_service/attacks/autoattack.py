"""AutoAttack (L∞, "standard"): APGD-CE, APGD-T, FAB-T and Square, each on what the others left.

F. Croce and M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020, https://arxiv.org/abs/2003.01690, §4: an image counts as
robust only if every attack fails on it, so each attack runs on the images all the attacks
before it left correctly classified, in that order. This is the robust accuracy the robustness
leaderboards (RobustBench) report. `Evaluate`'s `autoattack` runs the same components as
separate stages through the server's runner; this function runs them in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor, nn

from saliency_service.attacks._params import LINF_EPS
from saliency_service.attacks._survivors import Survivors, misclassified, untargeted_only
from saliency_service.attacks.apgd import (
    APGD_CE,
    APGD_T,
    SEED,
    STEPS,
    TARGET_COUNT,
    apgd_ce,
    apgd_t,
)
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.attacks.fab import FAB_T, fab_t
from saliency_service.attacks.square import SQUARE, square
from saliency_service.params import Param

# The components in the order the ensemble runs them.
COMPONENTS = (APGD_CE, APGD_T, FAB_T, SQUARE)


def autoattack(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
    steps: int = 100,
    target_count: int = 9,
    queries: int = 5000,
    seed: int = 0,
) -> AttackOutput:
    """Each component with its defaults but `steps` (APGD's and FAB's iterations),
    `target_count` (APGD-T's and FAB-T's targets), `queries` (Square's) and `seed`; each on the
    images still correctly classified.

    Raises:
        InvalidRequest: `targets` is given (AutoAttack is untargeted).

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, eps: (N,).
        Returns, per image, the first component's successful adversarial (the image unchanged
        where every one failed) and `eps`.
    """
    untargeted_only("autoattack", targets)
    survivors = Survivors(model, images, labels)
    attacks: list[tuple[Callable[..., AttackOutput], dict[str, int]]] = [
        (apgd_ce, {"steps": steps}),
        (apgd_t, {"steps": steps, "target_count": target_count}),
        (fab_t, {"steps": steps, "target_count": target_count}),
        (square, {"queries": queries}),
    ]
    for attack, settings in attacks:
        index = survivors.index()
        if index.numel() == 0:
            break
        found = attack(model, images[index], labels[index], targets=None, eps=eps[index],
                       seed=seed, **settings).adversarial
        survivors.record(index, found, misclassified(model, found, labels[index]))
    return survivors.output(eps)


def _autoattack_passes(params: Mapping[str, object]) -> float:
    """The components' prices added up: the worst case, where no image breaks early."""
    own = {"steps": params["steps"], "target_count": params["target_count"],
           "queries": params["queries"], "restarts": 1}
    total = 0.0
    for spec in COMPONENTS:
        defaults = {p.name: p.default for p in spec.params}
        total += spec.passes({**defaults, **{k: v for k, v in own.items() if k in defaults}})
    return total + 1 / 3


AUTOATTACK = AttackSpec(
    name="autoattack",
    function=autoattack,
    params=(
        LINF_EPS,
        STEPS,
        TARGET_COUNT,
        Param("queries", "integer", 5000, "Square's forward passes per image, at most",
              minimum=1, maximum=100000),
        SEED,
    ),
    description="AutoAttack (Croce & Hein 2020, standard L∞): APGD-CE, APGD-T, FAB-T and "
    "Square in turn, each on the images the earlier ones left correct; robust only if all fail.",
    targeted=False,
    passes=_autoattack_passes,
    min_classes=4,
)
