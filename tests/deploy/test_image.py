"""The Dockerfile: hadolint-clean, multi-stage, non-root, nothing to build with in the image.

Docker itself cannot run here; these are the static checks CI can make.
"""

from __future__ import annotations

import re
import subprocess
import tomllib

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
    declared = [
        *tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"],
        *tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]["dependencies"],
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
