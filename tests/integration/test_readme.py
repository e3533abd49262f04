"""The README's two set-up commands are the ones the repository runs, and the demo works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from saliency_client import decode_png

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    block = re.search(r"## Set-up: two commands\n.*?```bash\n(.*?)```", README, re.S)
    assert block, "README has no set-up block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    demo, test = readme_commands()
    assert demo == "bash scripts/demo.sh"
    assert test == "bash scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines()
    assert "pytest" in (ROOT / "scripts" / "test.sh").read_text()
    assert "saliency-demo" in (ROOT / "scripts" / "demo.sh").read_text()


@pytest.mark.integration
def test_demo_writes_heatmap_pngs(tmp_path: Path) -> None:
    # The demo command's last step, on the installed package: server child process + client.
    done = subprocess.run(
        [sys.executable, "-m", "saliency_service.demo.run", "--out", str(tmp_path), "--images",
         "2"], capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    methods = ("vanilla_gradient", "smoothgrad", "integrated_gradients", "grad_cam")
    for i in range(2):
        source = decode_png((tmp_path / f"image{i}_input.png").read_bytes())
        for method in methods:
            picture = decode_png((tmp_path / f"image{i}_{method}.png").read_bytes())
            assert picture.shape[:2] == source.shape[:2]
            # A heatmap was drawn: the overlay is not the input picture.
            assert np.abs(picture[..., :3].astype(int) - source[..., :3]).mean() > 5
