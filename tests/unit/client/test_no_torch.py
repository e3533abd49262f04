"""The client works where torch and Pillow are not installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "PIL"):
                raise ImportError(f"{name} is blocked")
            return None

    sys.meta_path.insert(0, Block())

    import numpy as np
    import saliency_client
    import saliency_client.cli
    from saliency_client._requests import explain_request

    request = explain_request(
        np.zeros((4, 4, 3), dtype=np.uint8), model="m", method="grad_cam", targets=1,
        top_k=1, params={"abs": True}, priority=0,
    )
    png = saliency_client.encode_png(np.zeros((4, 4, 3), dtype=np.uint8))
    assert saliency_client.decode_png(png).shape == (4, 4, 3)
    assert request.items[0].targets == [1]
    assert "torch" not in sys.modules and "PIL" not in sys.modules
    print("ok")
    """
)


def test_import_and_request_building_need_neither_torch_nor_pillow() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
