"""The Dockerfile: hadolint-clean, multi-stage, non-root, nothing to build with in the image.

Docker itself cannot run here; these are the static checks CI can make.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import tomllib
from types import ModuleType

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.tools import DEPLOY, ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"


def stages() -> dict[str, list[str]]:
    """Each stage's instructions (continuation lines joined), by stage name."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("FROM "):
            current = found.setdefault(line.split()[-1], [])
        if line.strip() and not line.lstrip().startswith("#"):
            current.append(line.strip())
    return found


def test_hadolint_finds_nothing_even_at_style_level() -> None:
    done = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "style", "--no-color", str(DOCKERFILE)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_runtime_stage_runs_saliency_server_as_a_numeric_non_root_user() -> None:
    runtime = stages()["runtime"]
    assert list(stages()) == ["builder", "runtime"]
    assert runtime[0] == "FROM ${BASE_IMAGE} AS runtime"
    (user,) = [line for line in runtime if line.startswith("USER ")]
    uid = user.split()[1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000
    assert 'ENTRYPOINT ["saliency-server"]' in runtime
    assert "EXPOSE 50051 9090" in runtime
    # The runtime stage installs only the interpreter, and copies only the built environment.
    installs = " ".join(line for line in runtime if "apt-get install" in line)
    assert re.findall(r"--no-install-recommends (\S+)", installs) == ["python3"]
    copies = [line for line in runtime if line.startswith("COPY")]
    assert copies == ["COPY --from=builder /opt/venv /opt/venv"]


def test_the_base_image_is_a_pinned_cuda_runtime() -> None:
    (arg,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+", arg)


def test_every_dependency_is_pinned_by_the_image_constraints() -> None:
    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[canonicalize_name(requirement.name)] = specifier.version
    service = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (extras,) = re.findall(r"^ARG EXTRAS=(\S*)$", DOCKERFILE.read_text(), re.MULTILINE)
    declared = [
        *service["dependencies"],
        *tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]["dependencies"],
        *(line for extra in extras.split(",") if extra
          for line in service["optional-dependencies"][extra]),
    ]
    for line in declared:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name == "saliency-client":
            continue
        assert name in pins, f"{name} is not pinned in deploy/constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (line, pins[name])


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    """.dockerignore excludes everything (.venv, .git, tests) but what COPY names."""
    ignore = set((ROOT / ".dockerignore").read_text().splitlines())
    assert "**" in ignore
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    sources = [source for line in copied for source in line.split()]
    assert sources
    for source in sources:
        assert f"!{source}" in ignore, source
        assert (ROOT / source).exists(), source


def _smoke_script() -> ModuleType:
    """scripts/smoke_image.py, which builds and runs the image for real (not in CI)."""
    path = ROOT / "scripts" / "smoke_image.py"
    spec = importlib.util.spec_from_file_location("smoke_image", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def disagreements(
    dockerfile: str, entrypoint: list[str], ports: tuple[int, ...], user: str
) -> list[str]:
    """Where the runtime stage's ENTRYPOINT, EXPOSE and USER differ from what the smoke
    script runs and checks."""
    text = re.sub(r"\\\n", " ", dockerfile)
    runtime = text[text.index("AS runtime"):]
    found = []
    (entry,) = re.findall(r"^ENTRYPOINT (.+)$", runtime, re.MULTILINE)
    if json.loads(entry) != entrypoint:
        found.append(f"ENTRYPOINT {entry} vs {entrypoint}")
    exposed = sorted(int(p) for line in re.findall(r"^EXPOSE (.+)$", runtime, re.MULTILINE)
                     for p in line.split())
    if exposed != sorted(ports):
        found.append(f"EXPOSE {exposed} vs {sorted(ports)}")
    (docker_user,) = re.findall(r"^USER (\S+)$", runtime, re.MULTILINE)
    if docker_user != user:
        found.append(f"USER {docker_user} vs {user}")
    return found


def test_the_smoke_script_checks_what_the_dockerfile_builds() -> None:
    script = _smoke_script()
    assert disagreements(DOCKERFILE.read_text(), script.ENTRYPOINT, script.PORTS,
                         script.USER) == []
    # ... and so do the manifests: the container's ports and its user.
    deployment = yaml.safe_load((DEPLOY / "base" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert set(script.PORTS) <= {p["containerPort"] for p in container["ports"]}
    context = pod["securityContext"]
    assert f"{context['runAsUser']}:{context['runAsGroup']}" == script.USER


@pytest.mark.parametrize(
    ("old", "new"),
    [('ENTRYPOINT ["saliency-server"]', 'ENTRYPOINT ["python3", "-m", "saliency_service"]'),
     ("EXPOSE 50051 9090", "EXPOSE 50051"),
     ("EXPOSE 50051 9090", "EXPOSE 8080 9090"),
     ("USER 10001:10001", "USER 10002:10002")],
)
def test_a_disagreement_is_caught(old: str, new: str) -> None:
    script = _smoke_script()
    text = DOCKERFILE.read_text()
    assert old in text
    assert disagreements(text.replace(old, new), script.ENTRYPOINT, script.PORTS, script.USER)
