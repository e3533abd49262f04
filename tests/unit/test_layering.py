"""Architecture rules checked on the source: protobuf at the edge, methods stay pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service" / "saliency_service"
CLIENT = Path(__file__).resolve().parents[2] / "client" / "src" / "saliency_client"


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


@pytest.mark.parametrize("path", service_files(), ids=lambda p: str(p.relative_to(SERVICE)))
def test_only_transport_imports_protobuf(path: Path) -> None:
    if path.parent.name == "transport":
        pytest.skip("transport/ is the edge")
    bad = {m for m in imported_modules(path) if "_pb2" in m or m.startswith("grpc")}
    assert not bad, f"{path.name} imports {sorted(bad)}: protobuf/grpc belong in transport/"


@pytest.mark.parametrize(
    "path", service_files("explainers", "attacks", "operations", "evaluation"),
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
