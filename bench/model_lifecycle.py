"""Start-up and reload times of each model kind, and what warm-up does to the first request.

For each kind (the shapes CNN exported by the server, timm CNN, timm ViT, Hugging Face ViT,
torch.export program shipping its ONNX file, ONNX-only folder), on a real server in process:
- start: `create_server` over a repository with that one model (load, ONNX export, warm-up);
- first / steady: the first Explain (vanilla gradient) after start, and the median of the next
  five; warm-up ran before the first, so first ≈ steady is its effect;
- cold: the same first pass on a replica that skipped warm-up (what the first request would
  pay without it), beside its second pass;
- reload: Admin.ReloadModels after dropping version 2 in (load, export, warm-up, switch), and
  the first request on version 2.

    python bench/model_lifecycle.py                    # every kind, small models
    python bench/model_lifecycle.py --kinds timm_cnn hf_vit --repeat 3

Figures from a loaded machine are not valid; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from saliency_client._proto.saliency.v1 import saliency_pb2 as pb  # noqa: E402
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc  # noqa: E402
from saliency_service.engine.pool import Instance  # noqa: E402
from saliency_service.explainers import EXPLAINERS  # noqa: E402

from tests import model_zoo as zoo  # noqa: E402
from tests.integration.messages import pixels  # noqa: E402
from tests.serving import ServerThread  # noqa: E402

TOKEN = "bench-admin"


def write(kind: str, folder: Path, seed: int) -> None:
    """Version folder `folder` of model kind `kind`."""
    parent, name = folder.parent, folder.name
    if kind == "shapes_export":
        zoo.write_shapes_version(folder, seed)
        (folder / "model.onnx").unlink()
        toml = folder / "model.toml"
        toml.write_text(toml.read_text().replace('onnx = "model.onnx"\n', ""))
    elif kind == "timm_cnn":
        zoo.write_timm(parent, name, "test_resnet", zoo.CNN_SIZE)
    elif kind == "timm_vit":
        zoo.write_timm(parent, name, "test_vit", zoo.SIZE, **zoo.VIT_ARGS)
    elif kind == "hf_vit":
        zoo.write_hf_vit(parent, name)
    elif kind == "exported":
        zoo.write_exported(parent, name, seed)
    else:
        zoo.write_onnx_only(parent, name, seed)


def request(size: int, method: str) -> pb.ExplainRequest:
    image = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
    return pb.ExplainRequest(model="m", method=pb.ExplainMethod.Value(method),
                             items=[pb.ExplainItem(image=pixels(image))])


def timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - started


def cold_and_warm(server: ServerThread) -> tuple[float, float]:
    """First and second pass of a fresh replica that never warmed up."""
    model = server.running.engine.pool._masters[next(iter(server.running.engine.pool._masters))]
    replica = Instance.of(model, model.device, channels_last=True).plain
    shape = (1, model.config.channels, model.config.height, model.config.width)
    method = "occlusion" if model.forward_only else "vanilla_gradient"
    spec = EXPLAINERS[method]
    params = {p.name: p.default for p in spec.params}
    images = torch.rand(shape)

    def run() -> None:
        spec.function(replica.classifier, images, torch.tensor([0]), **params)

    return timed(run), timed(run)


def bench(kind: str, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        repository = Path(tmp) / "repository"
        write(kind, repository / "m" / "1", seed=1)
        started = time.perf_counter()
        server = ServerThread(repository, admin_tokens=TOKEN)
        start = time.perf_counter() - started
        try:
            with grpc.insecure_channel(server.target) as channel:
                stub = pb_grpc.SaliencyStub(channel)
                info = stub.GetModel(pb.GetModelRequest(name="m"), timeout=60).model
                method = ("EXPLAIN_METHOD_OCCLUSION" if info.forward_only
                          else "EXPLAIN_METHOD_VANILLA_GRADIENT")
                message = request(info.input_height, method)
                first = timed(lambda: stub.Explain(message, timeout=600))
                steady = statistics.median(
                    timed(lambda: stub.Explain(message, timeout=600)) for _ in range(repeat)
                )
                cold, warm = cold_and_warm(server)
                write(kind, Path(tmp) / "staging" / "2", seed=2)
                os.rename(Path(tmp) / "staging" / "2", repository / "m" / "2")
                admin = pb_grpc.AdminStub(channel)
                reload = timed(lambda: admin.ReloadModels(
                    pb.ReloadModelsRequest(), timeout=600,
                    metadata=(("authorization", f"Bearer {TOKEN}"),)))
                after = timed(lambda: stub.Explain(message, timeout=600))
        finally:
            server.stop()
    return {"start_s": start, "first_ms": first * 1e3, "steady_ms": steady * 1e3,
            "cold_first_pass_ms": cold * 1e3, "warm_pass_ms": warm * 1e3,
            "reload_s": reload, "first_after_reload_ms": after * 1e3}


def main() -> None:
    kinds = ["shapes_export", "timm_cnn", "timm_vit", "hf_vit", "exported", "onnx_only"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", nargs="+", default=kinds, choices=kinds)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}; torch threads {torch.get_num_threads()}")
    header = None
    for kind in args.kinds:
        row = bench(kind, args.repeat)
        if header is None:
            header = list(row)
            print(f"{'kind':<14}" + "".join(f"{k:>22}" for k in header))
        print(f"{kind:<14}" + "".join(f"{row[k]:>22.2f}" for k in header), flush=True)
        first = row["first_ms"] / max(row["steady_ms"], 1e-9)
        cold = row["cold_first_pass_ms"] / max(row["warm_pass_ms"], 1e-9)
        print(f"{'':<14}first/steady {first:.2f}x with warm-up; cold/warm pass {cold:.2f}x "
              "without it")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
