"""The README's two set-up commands are the ones the repository runs, and the demo works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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
def test_demo_draws_one_readable_figure_per_image(tmp_path: Path) -> None:
    # The demo command's last step, on the installed package: server child process + client.
    done = subprocess.run(
        [sys.executable, "-m", "saliency_service.demo.run", "--out", str(tmp_path), "--images",
         "1"], capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image0.png"]
    counts = [int(n) for n in re.findall(r", (\d+) maps$", done.stdout, re.M)]
    assert len(counts) == 1 and counts[0] >= 20  # every method but the attention maps
    for path in sorted(tmp_path.iterdir()):
        with Image.open(path) as figure:
            pixels = np.asarray(figure.convert("RGB")).astype(int)
        # Six panels of at least 256 px a row, four rows, and colour (maps) on them.
        assert pixels.shape[1] >= 6 * 256 and pixels.shape[0] >= 4 * 256
        chroma = pixels.max(axis=2) - pixels.min(axis=2)
        assert (chroma > 60).mean() > 0.02
