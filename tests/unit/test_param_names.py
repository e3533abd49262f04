"""No method parameter is shadowed by an argument of the client or an option of the CLI.

A parameter travels as `client.explain(..., name=value)` / `client.attack(..., name=value)` (the
`**params` of both clients) or as the CLI's `--param name=value`. A parameter that shares its
name with one of their own arguments cannot be sent that way (Integrated Gradients' quadrature
rule, once called `method`, could not). The exceptions are arguments that set that very
parameter: `eps` (the client's per-image budget; one number becomes the request's `eps`) and
the CLI attack's `--eps` and `--steps`. The web page refuses the client's argument names too.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable

import pytest
from saliency_client import AsyncSaliencyClient, SaliencyClient, _cli_support, cli
from saliency_service.attacks import ATTACKS
from saliency_service.explainers import EXPLAINERS
from saliency_service.operations.attack import COMMON_PARAMS as ATTACK_COMMON
from saliency_service.operations.explain import COMMON_PARAMS as EXPLAIN_COMMON

EXPLAIN_PARAMS = {p.name for spec in EXPLAINERS.values() for p in (*spec.params, *EXPLAIN_COMMON)}
ATTACK_PARAMS = {p.name for spec in ATTACKS.values() for p in (*spec.params, *ATTACK_COMMON)}
# Arguments whose purpose is to set the parameter of the same name.
SETS_THE_PARAMETER = {"eps", "steps"}


def _arguments(function: Callable[..., object]) -> set[str]:
    parameters = inspect.signature(function).parameters.values()
    return {p.name for p in parameters if p.kind is not p.VAR_KEYWORD and p.name != "self"}


def _options(command: str) -> set[str]:
    """Every option and positional `dest` of `saliency <command>`, global options included."""
    parser = cli._parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    actions = [*parser._actions, *commands.choices[command]._actions]
    return {a.dest for a in actions if a.dest not in ("help", "command")}


@pytest.mark.parametrize("client", [SaliencyClient, AsyncSaliencyClient])
def test_no_explain_parameter_is_a_client_argument(client: type) -> None:
    assert EXPLAIN_PARAMS & _arguments(client.explain) == set()


@pytest.mark.parametrize("client", [SaliencyClient, AsyncSaliencyClient])
def test_no_attack_parameter_is_a_client_argument(client: type) -> None:
    assert ATTACK_PARAMS & _arguments(client.attack) <= SETS_THE_PARAMETER


@pytest.mark.parametrize(
    ("command", "names"), [("explain", EXPLAIN_PARAMS), ("attack", ATTACK_PARAMS)]
)
def test_no_parameter_is_a_cli_option_or_refused_by_param(command: str, names: set[str]) -> None:
    assert names & _options(command) <= SETS_THE_PARAMETER
    for name in names - SETS_THE_PARAMETER:
        assert _cli_support.param(f"{name}=1")[0] == name  # --param accepts it


def test_no_parameter_is_refused_by_the_web_page() -> None:
    fields = pytest.importorskip("saliency_client.web.fields")  # the client's `web` extra
    assert not ((EXPLAIN_PARAMS | ATTACK_PARAMS) & fields._RESERVED)


def test_the_checks_see_the_arguments_they_guard() -> None:
    # Guards against vacuous passes: the introspection finds the arguments it must compare.
    assert {"method", "model", "targets", "top_k"} <= _arguments(SaliencyClient.explain)
    assert {"method", "labels", "eps"} <= _arguments(AsyncSaliencyClient.attack)
    assert {"method", "alpha", "output", "param"} <= _options("explain")
    assert {"steps", "eps", "label"} <= _options("attack")
    assert {"steps", "reduce", "layer"} <= EXPLAIN_PARAMS
