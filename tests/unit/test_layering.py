"""Architecture rules checked on the source: the layers' direction, protobuf at the edge, methods
pure, no package cycles, size budgets.

Layers, top to bottom: transport → operations → engine → methods (explainers, attacks,
assessment) → models. Training sits beside the methods: plain functions over a model, a loader
and a recipe, which may use the methods (its attacks and teachers) but which no method uses.
A module may import its own layer and those below, never above; in transport only server.py
(which builds the engine) may import the engine. The base modules (errors, params, images,
config, metrics, allocator) import no layer; applications (cli, train_cli, demo, bulk,
__main__) may import anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service" / "saliency_service"
CLIENT = Path(__file__).resolve().parents[2] / "client" / "src" / "saliency_client"
PACKAGE = "saliency_service"
RANKS = {
    "models": 0,
    "explainers": 1,
    "attacks": 1,
    "assessment": 1,
    "training": 1,
    "engine": 2,
    "operations": 3,
    "transport": 4,
}
BASE = {"errors", "params", "images", "config", "metrics", "allocator"}
APPLICATIONS = {"cli", "train_cli", "demo", "bulk", "__main__", "__init__"}
METHODS = {"explainers", "attacks", "assessment"}
TRAINING = "training"
MAX_LINES = 300
SERVICER_MAX_LINES = 150


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def service_files(*folders: str) -> list[Path]:
    roots = [SERVICE / f for f in folders] if folders else [SERVICE]
    return sorted(p for root in roots for p in root.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(SERVICE).with_suffix("").parts
    return ".".join((PACKAGE, *parts))


def component(module: str) -> str:
    """The first name below the package: "engine" for saliency_service.engine.batcher."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Every import of `graph` (module → modules it imports) against the rules above."""
    found = []
    for module, imports in graph.items():
        source = component(module)
        for target_module in imports:
            if not target_module.startswith(PACKAGE + "."):
                continue
            target = component(target_module)
            if source in APPLICATIONS or target == source:
                continue
            if source in BASE and target not in BASE:
                found.append(f"{module} (base) imports {target_module}")
            elif target in APPLICATIONS:
                found.append(f"{module} imports the application {target_module}")
            elif source in RANKS and target in RANKS and RANKS[target] > RANKS[source]:
                found.append(f"{module} imports {target_module}, a layer above it")
            elif source in METHODS and target == TRAINING:
                found.append(f"{module} imports {target_module}: methods never train")
            elif source in METHODS and target in METHODS:
                found.append(f"{module} imports {target_module}: methods are independent")
            elif source == "transport" and target == "engine" and not module.endswith(".server"):
                found.append(f"{module} imports {target_module}: only transport.server may")
            elif source == "transport" and target in METHODS:
                found.append(f"{module} imports {target_module}: transport calls operations")
            elif source in {*METHODS, TRAINING} and target in {"config", "metrics"}:
                found.append(f"{module} imports {target_module}: methods are plain functions")
    return found


def package_graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path) for path in service_files()}


def test_the_tree_follows_the_layers() -> None:
    assert violations(package_graph()) == []


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("saliency_service.engine.batcher", "saliency_service.operations.explain"),
        ("saliency_service.models.loading", "saliency_service.explainers.base"),
        ("saliency_service.transport.servicer", "saliency_service.engine.batcher"),
        ("saliency_service.transport.responses", "saliency_service.explainers"),
        ("saliency_service.explainers.cam", "saliency_service.attacks.pgd"),
        ("saliency_service.attacks.pgd", "saliency_service.metrics"),
        ("saliency_service.assessment.curves", "saliency_service.explainers.gradients"),
        ("saliency_service.assessment.road", "saliency_service.operations.probes"),
        ("saliency_service.attacks.pgd", "saliency_service.training.recipes"),
        ("saliency_service.training.loop", "saliency_service.engine.batcher"),
        ("saliency_service.training.loop", "saliency_service.demo.shapes"),
        ("saliency_service.errors", "saliency_service.models.loading"),
        ("saliency_service.models.architectures", "saliency_service.demo.shapes"),
    ],
)
def test_an_import_against_the_direction_is_caught(module: str, imported: str) -> None:
    graph = package_graph()
    graph[module] = {*graph.get(module, set()), imported}
    assert any(imported in v for v in violations(graph))


def test_packages_import_each_other_without_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for module, imports in package_graph().items():
        source = component(module)
        targets = {component(m) for m in imports if m.startswith(PACKAGE + ".")}
        edges.setdefault(source, set()).update(targets - {source})
    visiting: list[str] = []

    def visit(node: str, done: set[str]) -> None:
        assert node not in visiting, f"cycle: {' → '.join([*visiting, node])}"
        if node in done:
            return
        visiting.append(node)
        for target in edges.get(node, ()):
            visit(target, done)
        visiting.pop()
        done.add(node)

    done: set[str] = set()
    for node in edges:
        visit(node, done)


@pytest.mark.parametrize("path", service_files(), ids=lambda p: str(p.relative_to(SERVICE)))
def test_only_transport_imports_protobuf(path: Path) -> None:
    if path.parent.name == "transport":
        pytest.skip("transport/ is the edge")
    bad = {m for m in imported_modules(path) if "_pb2" in m or m.startswith("grpc")}
    assert not bad, f"{path.name} imports {sorted(bad)}: protobuf/grpc belong in transport/"


@pytest.mark.parametrize(
    "path",
    service_files("explainers", "attacks", "operations", "assessment", "training"),
    ids=lambda p: str(p.relative_to(SERVICE)),
)
def test_methods_know_nothing_of_transport_or_metrics(path: Path) -> None:
    forbidden = ("grpc", "google.protobuf", "prometheus_client", "saliency_client",
                 "captum", "pytorch_grad_cam", "torchattacks")
    bad = {m for m in imported_modules(path) if m.startswith(forbidden)}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", sorted(CLIENT.rglob("*.py")), ids=lambda p: p.name)
def test_client_never_imports_torch(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] in ("torch", "torchvision")}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", service_files(), ids=lambda p: str(p.relative_to(SERVICE)))
def test_modules_stay_small(path: Path) -> None:
    limit = SERVICER_MAX_LINES if path.name == "servicer.py" else MAX_LINES
    lines = len(path.read_text().splitlines())
    assert lines <= limit, f"{path.name} has {lines} lines; the budget is {limit}"
