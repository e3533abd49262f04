"""The client works where torch, Pillow and the optional extras (matplotlib for figures;
Starlette and uvicorn for the web page) are not installed, and says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCK = textwrap.dedent(
    """
    import importlib.abc
    import sys

    BLOCKED = {blocked!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked", name=name.split(".")[0])
            return None

    sys.meta_path.insert(0, Block())
    """
)

SCRIPT = BLOCK.format(blocked=("torch", "PIL")) + textwrap.dedent(
    """
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

EXTRAS = BLOCK.format(blocked=("torch", "PIL", "matplotlib", "starlette", "uvicorn")) + (
    textwrap.dedent(
        """
        import contextlib, io, socket
        import saliency_client, saliency_client.cli, saliency_client.gallery

        for module, extra in (("saliency_client.figures", "figures"),
                              ("saliency_client.web", "web")):
            try:
                __import__(module)
            except ImportError as error:
                assert f"saliency-client[{extra}]" in str(error), str(error)
            else:
                raise AssertionError(f"{module} imported without its extra")

        with socket.socket() as probe:  # a closed port: the figure check comes first
            probe.bind(("127.0.0.1", 0))
            target = f"127.0.0.1:{probe.getsockname()[1]}"
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status = saliency_client.cli.main(["--target", target, "explain", "x.png",
                                               "--methods", "all", "--grid", "g.png"])
        assert status == 1 and "saliency-client[figures]" in err.getvalue(), err.getvalue()
        blocked = ("torch", "PIL", "matplotlib", "starlette", "uvicorn")
        assert not any(name.split(".")[0] in blocked for name in sys.modules)
        print("ok")
        """
    )
)


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )


def test_import_and_request_building_need_neither_torch_nor_pillow() -> None:
    done = _run(SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_client_and_cli_import_without_the_extras_which_name_themselves_when_needed() -> None:
    done = _run(EXTRAS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
