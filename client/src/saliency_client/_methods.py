"""Short names ("grad_cam", "pgd", "deletion") ⇄ the proto's ExplainMethod, AttackMethod and
AssessmentMetric enums.

The short name is the enum value's name without its prefix, lower-cased, as the server's
MethodInfo.name spells it; deriving the table from the enum means a new method needs no edit here.
Requests are built with the enum value's full name, which protobuf accepts for enum fields.
"""

from __future__ import annotations

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from saliency_client._proto.saliency.v1 import saliency_pb2
from saliency_client.errors import InvalidArgument

_EXPLAIN_PREFIX = "EXPLAIN_METHOD_"
_ATTACK_PREFIX = "ATTACK_METHOD_"
_METRIC_PREFIX = "ASSESSMENT_METRIC_"


def _by_short_name(full_names: list[str], prefix: str) -> dict[str, str]:
    return {
        full.removeprefix(prefix).lower(): full
        for full in full_names
        if not full.endswith("_UNSPECIFIED")  # no method
    }


EXPLAIN_METHODS = _by_short_name(saliency_pb2.ExplainMethod.keys(), _EXPLAIN_PREFIX)
ATTACK_METHODS = _by_short_name(saliency_pb2.AttackMethod.keys(), _ATTACK_PREFIX)
METRICS = _by_short_name(saliency_pb2.AssessmentMetric.keys(), _METRIC_PREFIX)


def _lookup(methods: dict[str, str], what: str, name: str) -> str:
    # "grad-cam" and "Grad_CAM" are accepted too: CLI users write either.
    full = methods.get(name.strip().lower().replace("-", "_"))
    if full is None:
        valid = ", ".join(sorted(methods))
        raise InvalidArgument(f"unknown {what} '{name}'; valid: {valid}")
    return full


def explain_method(name: str) -> str:
    """Return the full ExplainMethod value name ("EXPLAIN_METHOD_GRAD_CAM") for a short name.

    Raises:
        InvalidArgument: no explanation method has that name; the message lists the valid ones.
    """
    return _lookup(EXPLAIN_METHODS, "explain method", name)


def attack_method(name: str) -> str:
    """Return the full AttackMethod value name ("ATTACK_METHOD_PGD") for a short name.

    Raises:
        InvalidArgument: no attack has that name; the message lists the valid ones.
    """
    return _lookup(ATTACK_METHODS, "attack method", name)


def metric(name: str) -> str:
    """Return the full AssessmentMetric value name ("ASSESSMENT_METRIC_DELETION").

    Raises:
        InvalidArgument: no metric has that name; the message lists the valid ones.
    """
    return _lookup(METRICS, "metric", name)


def _short_name(enum: EnumTypeWrapper, prefix: str, number: int) -> str:
    try:
        return enum.Name(number).removeprefix(prefix).lower()
    except ValueError:
        # A method added to a newer server than these stubs know: its number still names it.
        return str(number)


def explain_method_name(number: int) -> str:
    """Return the short name of an ExplainMethod value (its number, if the stubs lack it)."""
    return _short_name(saliency_pb2.ExplainMethod, _EXPLAIN_PREFIX, number)


def attack_method_name(number: int) -> str:
    """Return the short name of an AttackMethod value (its number, if the stubs lack it)."""
    return _short_name(saliency_pb2.AttackMethod, _ATTACK_PREFIX, number)


def metric_name(number: int) -> str:
    """Return the short name of an AssessmentMetric value (its number, if the stubs lack it)."""
    return _short_name(saliency_pb2.AssessmentMetric, _METRIC_PREFIX, number)
