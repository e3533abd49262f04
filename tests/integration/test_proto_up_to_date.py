"""The committed stubs are what `proto/generate.py` produces from the committed proto."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "client" / "src" / "saliency_client" / "_proto"


def test_generated_stubs_match_the_proto(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "proto" / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    written = generate.generate(tmp_path)
    assert written, "the generator wrote nothing"
    for path in written:
        committed = COMMITTED / path.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing: run python proto/generate.py"
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed.relative_to(ROOT)} is stale: run python proto/generate.py"
        )
    committed_files = {p.relative_to(COMMITTED) for p in COMMITTED.rglob("*.py*")}
    assert committed_files == {p.relative_to(tmp_path) for p in written}
