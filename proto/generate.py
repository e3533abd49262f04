"""Regenerate the Python stubs for saliency.v1 into the client package.

Run: ``python proto/generate.py`` (needs the pinned grpcio-tools from pyproject's ``dev`` extra).
The output is committed; ``tests/integration/test_proto_up_to_date.py`` fails when it is stale.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = PROTO_ROOT.parent / "client" / "src" / "saliency_client" / "_proto"
PROTO_FILES = ["saliency/v1/saliency.proto"]
# protoc writes `from saliency.v1 import saliency_pb2`; the stubs live inside the client package,
# so the import must be relative to be found wherever the client is installed.
ABSOLUTE_IMPORT = re.compile(r"^from saliency\.v1 import ", re.MULTILINE)


def generate(out_dir: Path = DEFAULT_OUT) -> list[Path]:
    """Write the stubs under ``out_dir`` and return the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}",
            f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}",
            *PROTO_FILES,
        ],
        check=True,
        cwd=PROTO_ROOT,
    )
    written = []
    for package in (out_dir, out_dir / "saliency", out_dir / "saliency" / "v1"):
        init = package / "__init__.py"
        init.write_text("")
        written.append(init)
    for path in sorted((out_dir / "saliency" / "v1").glob("*_pb2*.py*")):
        path.write_text(ABSOLUTE_IMPORT.sub("from . import ", path.read_text()))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT):
        print(path)
