"""The attack registry: proto enum short name (AttackMethod) → the attack's record.

Each record (`AttackSpec`) is defined at the end of its attack's module. Every function takes
pixels in [0, 1] and returns an `AttackOutput`; `choose_targets` turns a request's
`target_mode` into the `targets` argument.
"""

from __future__ import annotations

from saliency_service.attacks.apgd import APGD_CE, APGD_T
from saliency_service.attacks.autoattack import AUTOATTACK
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.attacks.bim import BIM
from saliency_service.attacks.cw import CW_L2
from saliency_service.attacks.deepfool import DEEPFOOL
from saliency_service.attacks.fab import FAB_T
from saliency_service.attacks.fgsm import FGSM
from saliency_service.attacks.mi_fgsm import MI_FGSM
from saliency_service.attacks.minimal_epsilon import MINIMAL_EPSILON
from saliency_service.attacks.pgd import PGD
from saliency_service.attacks.pgd_l2 import PGD_L2
from saliency_service.attacks.simba import SIMBA
from saliency_service.attacks.square import SQUARE
from saliency_service.attacks.targets import TARGET_MODES, choose_targets

__all__ = ["ATTACKS", "TARGET_MODES", "AttackOutput", "AttackSpec", "choose_targets"]

ATTACKS: dict[str, AttackSpec] = {
    "fgsm": FGSM,
    "bim": BIM,
    "pgd": PGD,
    "pgd_l2": PGD_L2,
    "mi_fgsm": MI_FGSM,
    "deepfool": DEEPFOOL,
    "cw_l2": CW_L2,
    "minimal_epsilon": MINIMAL_EPSILON,
    "simba": SIMBA,
    "apgd_ce": APGD_CE,
    "apgd_t": APGD_T,
    "fab_t": FAB_T,
    "square": SQUARE,
    "autoattack": AUTOATTACK,
}
