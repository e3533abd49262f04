"""Method parameters: their declared specs, and checking a request's values against them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from saliency_service.errors import InvalidRequest, quoted

ParamKind = Literal["number", "integer", "text", "flag", "tensor", "layer"]
ParamValue = float | int | str | bool | np.ndarray | None
# Unknown parameter names quoted in an error message, at most.
MAX_NAMED = 5


@dataclass(frozen=True)
class Param:
    """One parameter a method accepts. `layer` is text naming a module of the model."""

    name: str
    kind: ParamKind
    default: ParamValue
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


def resolve_params(
    method: str, specs: Sequence[Param], given: Mapping[str, ParamValue]
) -> dict[str, ParamValue]:
    """Return every parameter of `specs`, taken from `given` or defaulted, after checking.

    Raises:
        InvalidRequest: an unknown name, a wrong type, or a value out of range; the message
            names the method, the parameter and what would be valid.
    """
    by_name = {spec.name: spec for spec in specs}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        valid = ", ".join(sorted(by_name)) or "none"
        named = ", ".join(quoted(name) for name in unknown[:MAX_NAMED])
        more = f" and {len(unknown) - MAX_NAMED} more" if len(unknown) > MAX_NAMED else ""
        raise InvalidRequest(
            f"unknown parameter(s) {named}{more} for method '{method}'; valid: {valid}"
        )
    return {
        spec.name: _check(method, spec, given[spec.name]) if spec.name in given else spec.default
        for spec in specs
    }


def _check(method: str, spec: Param, value: ParamValue) -> ParamValue:
    where = f"parameter '{spec.name}' of method '{method}'"
    if spec.kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidRequest(f"{where} must be a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise InvalidRequest(f"{where} must be finite, got {value}")
        if spec.kind == "integer":
            if value != int(value):
                raise InvalidRequest(f"{where} must be a whole number, got {value}")
            value = int(value)
        if spec.minimum is not None and value < spec.minimum:
            raise InvalidRequest(f"{where} must be at least {spec.minimum:g}, got {value:g}")
        if spec.maximum is not None and value > spec.maximum:
            raise InvalidRequest(f"{where} must be at most {spec.maximum:g}, got {value:g}")
        return value
    if spec.kind in ("text", "layer"):
        if not isinstance(value, str):
            raise InvalidRequest(f"{where} must be text, got {type(value).__name__}")
        if spec.choices and value not in spec.choices:
            raise InvalidRequest(
                f"{where} must be one of {', '.join(spec.choices)}; got {quoted(value)}"
            )
        return value
    if spec.kind == "flag":
        if not isinstance(value, bool):
            raise InvalidRequest(f"{where} must be true or false, got {type(value).__name__}")
        return value
    if not isinstance(value, np.ndarray):
        raise InvalidRequest(f"{where} must be a tensor, got {type(value).__name__}")
    if not np.all(np.isfinite(value)):
        raise InvalidRequest(f"{where} contains NaN or Inf")
    return value
