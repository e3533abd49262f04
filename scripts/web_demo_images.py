"""Write the demo pictures `saliency-web` offers: one fresh image of each demo class.

    .venv/bin/python scripts/web_demo_images.py

They go to client/src/saliency_client/web/static/demo/<class>.png (shipped with the client,
which cannot import the service's generator); the file name is the true class.
"""

from __future__ import annotations

from pathlib import Path

from saliency_client import encode_png
from saliency_service.demo.shapes import CLASSES, generate

# A seed the training script never uses, so the pictures are new to the model.
SEED = 20_261_201
OUT = Path(__file__).resolve().parents[1] / "client/src/saliency_client/web/static/demo"


def main() -> None:
    batch = generate(len(CLASSES), seed=SEED)  # balanced: one image of each class
    OUT.mkdir(parents=True, exist_ok=True)
    for image, label in zip(batch.images, batch.labels, strict=True):
        (OUT / f"{CLASSES[label]}.png").write_bytes(encode_png(image))
    print(f"wrote {len(CLASSES)} pictures to {OUT}")


if __name__ == "__main__":
    main()
