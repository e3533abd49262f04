"""An ensemble's result (Evaluate's `autoattack`) → protobuf."""

from __future__ import annotations

from saliency_client import _methods
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb

from saliency_service.operations.ensemble import EnsembleResult


def autoattack_result(result: EnsembleResult) -> pb.AutoAttackResult:
    """Robust accuracy at one ε, each stage's counts, and per image the attack that broke it."""
    return pb.AutoAttackResult(
        eps=result.eps,
        robust_accuracy=result.robust_accuracy,
        onnx_robust_accuracy=result.onnx_robust_accuracy,
        stages=[
            pb.AutoAttackStage(
                attack=_methods.attack_method(stage.attack),
                attacked=stage.attacked,
                broken=stage.broken,
                robust_accuracy=stage.robust_accuracy,
            )
            for stage in result.stages
        ],
        robust=result.robust,
        broken_by=[
            _methods.attack_method(name) if name else "ATTACK_METHOD_UNSPECIFIED"
            for name in result.broken_by
        ],
    )
