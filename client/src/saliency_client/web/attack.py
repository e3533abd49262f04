"""The attack panel's call: an adversarial example, its perturbation, and the maps before/after.

The image is sent at the model's input size (resized here), so the adversarial image the server
returns is comparable pixel for pixel: the perturbation shown is exactly x_adv − x, and the maps
before and after explain the same-sized inputs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import numpy.typing as npt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from saliency_client.async_client import AsyncSaliencyClient
from saliency_client.errors import SaliencyError, Unimplemented
from saliency_client.web import encode, snippets
from saliency_client.web.state import Call


async def _map(client: AsyncSaliencyClient, image: npt.NDArray[np.float32], model: str,
               method: str) -> dict[str, Any]:
    """The map of the predicted class of `image`, or why there is none."""
    try:
        (result,) = await client.explain(image, model=model, method=method)
    except Unimplemented as error:
        return {"status": "not_applicable", "reason": error.details[:500]}
    except SaliencyError as error:
        return {"status": "error"} | encode.error(error)
    if result.error is not None:
        return {"status": "error"} | encode.error(result.error)
    return {"status": "ok", "predicted": {"index": result.predicted_class,
                                          "label": result.predicted_label},
            "explanation": encode.explanation(result.explanations[0])}


async def attack(request: Request) -> Response:
    """Attack one image; answer the verdicts of both engines, pictures, maps and snippets."""
    call = await Call.read(request)
    client, model, stored = call.client, call.model, call.image()
    method = call.fields.text("method")
    params: dict[str, Any] = call.fields.params("params")
    map_method = call.fields.get("map_method")
    info = await client.get_model(model)
    clean = stored.resized(info.input_height, info.input_width, info.input_channels)
    (result,) = await client.attack(clean, model=model, method=method, **params)
    result.raise_for_error()
    answer = encode.attack(result, clean)
    if isinstance(map_method, str) and map_method and result.adversarial is not None:
        adversarial = result.adversarial.astype(np.float32)
        before, after = await asyncio.gather(_map(client, clean, model, map_method),
                                             _map(client, adversarial, model, map_method))
        answer |= {"map_method": map_method, "map_before": before, "map_after": after}
    labels = info.labels

    def name(index: int) -> str:
        return labels[index] if 0 <= index < len(labels) else str(index)

    answer["labels"] = {"label_before": name(result.label_before),
                        "label_after_torch": name(result.label_after_torch),
                        "label_after_onnx": name(result.label_after_onnx)}
    answer["clean"] = encode.png_url(clean)
    answer["snippets"] = snippets.attack(snippets.Context(call.target, model, stored.name),
                                         method, params)
    return JSONResponse(answer)
