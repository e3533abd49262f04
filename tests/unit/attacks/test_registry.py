"""The registry matches the proto enum and every entry's parameters match its function."""

from __future__ import annotations

import inspect

import pytest
from saliency_client._proto.saliency.v1 import saliency_pb2
from saliency_service.attacks import ATTACKS
from saliency_service.params import resolve_params


def test_one_entry_per_proto_attack_method() -> None:
    names = {
        name.removeprefix("ATTACK_METHOD_").lower()
        for name in saliency_pb2.AttackMethod.DESCRIPTOR.values_by_name
        if name != "ATTACK_METHOD_UNSPECIFIED"
    }
    assert set(ATTACKS) == names
    assert all(spec.name == key for key, spec in ATTACKS.items())


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_params_are_the_functions_keywords_with_defaults_in_range(name: str) -> None:
    spec = ATTACKS[name]
    signature = inspect.signature(spec.function)
    keywords = {
        p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert keywords - {"targets"} == {p.name for p in spec.params}
    # Every default passes the same checks a request's values do.
    defaults = {p.name: p.default for p in spec.params}
    assert resolve_params(name, spec.params, defaults) == defaults
    for param in spec.params:
        default = signature.parameters[param.name].default
        if default is not inspect.Parameter.empty:
            assert default == param.default, f"{name}.{param.name}: function and registry differ"
