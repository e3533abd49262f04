"""Forward-only work (Predict, attack re-checks): ONNX Runtime against torch, same run.

torch runs the model twice: as loaded (NCHW), and as the engine's gradient replicas run it
(batch norms folded, channels-last). ONNX Runtime runs the service's own export of the model.

    .venv/bin/python bench/ort_vs_torch.py            # resnet18 and resnet50
    .venv/bin/python bench/ort_vs_torch.py --quick    # resnet18
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import _harness as h
import torch
from saliency_service.engine.folding import fold_batch_norms
from saliency_service.models.onnx_runtime import OnnxClassifier, export_onnx


def rate(
    forward: Callable[[torch.Tensor], object], pixels: torch.Tensor, batch: int, repeats: int
) -> float:
    """Best images per second over `repeats` passes through `pixels`, `batch` at a time."""
    forward(pixels[:batch])
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(pixels), batch):
            forward(pixels[start : start + batch])
        best = max(best, len(pixels) / (time.perf_counter() - started))
    return best


def engine_replica(model: torch.nn.Module) -> Callable[[torch.Tensor], object]:
    """The model as the engine's gradient replicas run it: folded, channels-last."""
    fast = copy.deepcopy(model)
    fold_batch_norms(fast)
    fast = fast.to(memory_format=torch.channels_last)
    return lambda x: fast(x.contiguous(memory_format=torch.channels_last))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="resnet18 only")
    quick = parser.parse_args().quick
    h.set_up()
    print(h.machine())
    names = ("resnet18",) if quick else ("resnet18", "resnet50")
    pixels = h.as_tensor(h.images(16))
    rows = []
    for name in names:
        model = h.classifier(name).requires_grad_(False)
        onnx = OnnxClassifier(export_onnx(model, h.SIZE, h.SIZE, 3), torch.device("cpu"))
        fast = engine_replica(model)
        engines: dict[str, Callable[[torch.Tensor], object]] = {
            "torch": lambda x, m=model: m(x),
            "torch folded+CL": fast,
            "ONNX Runtime": lambda x, session=onnx: session.logits(x.numpy()),
        }
        with torch.no_grad():
            for batch in (1, 16):
                rates = {
                    label: rate(run, pixels, batch, 2 if quick else 3)
                    for label, run in engines.items()
                }
                rows.append(
                    [
                        name,
                        batch,
                        *rates.values(),
                        f"{rates['ONNX Runtime'] / rates['torch']:.2f}x",
                        f"{rates['ONNX Runtime'] / rates['torch folded+CL']:.2f}x",
                    ]
                )
                print(*rows[-1], sep="\t", flush=True)
    print(
        h.table(
            "Forward passes, images per second",
            [
                "model",
                "batch",
                "torch",
                "torch folded+CL",
                "ONNX Runtime",
                "ORT / torch",
                "ORT / torch folded+CL",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
