"""Hugging Face image classifiers from a local folder in transformers' own format.

The folder holds `config.json` and `model.safetensors` (or shards listed in
`model.safetensors.index.json`). The config is read as JSON (data) and must name an image
classifier transformers knows: a config with `auto_map` names code to import, refused. The
weights are safetensors files inside the folder, checked here; transformers then builds the
network from that config and reads those files with `from_pretrained(local_files_only=True,
use_safetensors=True)`, which never looks anything up on the hub and never unpickles, and which
renames checkpoint keys saved under older names (transformers 5 renamed ViT's modules, and its
`save_pretrained` still writes the old names). The model's output object gives its logits.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import safetensors
from torch import Tensor, nn

from saliency_service.models.sources import HF_CONFIG, read_json
from saliency_service.models.toml_fields import ModelConfigError, inside

WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"


class HuggingFaceLogits(nn.Module):
    """A transformers image classifier as a function of pixel values to logits.

    Shape:
        input: (N, C, H, W), normalised; output: (N, num_labels).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        logits: Tensor = self.model(pixel_values=images).logits
        return logits


def build_huggingface(folder: Path) -> nn.Module:
    """The classifier of the Hugging Face folder `folder`, with its safetensors weights.

    Raises:
        ModelConfigError: not an image classifier transformers knows, remote code, missing or
            refused weights, or weights that do not fit.
    """
    try:
        from transformers import AutoConfig, AutoModelForImageClassification
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES as KNOWN,
        )
    except ImportError:
        raise ModelConfigError(
            "Hugging Face models need transformers: pip install 'saliency-service[models]'"
        ) from None
    fields = read_json(folder, HF_CONFIG)
    if "auto_map" in fields:
        raise ModelConfigError(f"{HF_CONFIG} names remote code (auto_map), which never runs here")
    model_type = fields.pop("model_type", None)
    if model_type not in KNOWN:
        raise ModelConfigError(
            f"{HF_CONFIG}: model_type {str(model_type)[:40]!r} is not an image classifier "
            f"transformers knows; known: {', '.join(sorted(KNOWN)[:40])}, ..."
        )
    config = AutoConfig.for_model(model_type, **fields)
    _check_weights(folder)
    try:
        # SDPA attention: its calls are where attention maps are read (explainers/attention.py).
        model = _from_pretrained(AutoModelForImageClassification, folder, config, "sdpa")
    except (ValueError, ImportError):
        model = _from_pretrained(AutoModelForImageClassification, folder, config, None)
    return HuggingFaceLogits(model.eval())


def _from_pretrained(auto: Any, folder: Path, config: Any, attention: str | None) -> nn.Module:
    options = {"attn_implementation": attention} if attention else {}
    try:
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            model, info = auto.from_pretrained(
                str(folder),
                config=config,
                local_files_only=True,
                use_safetensors=True,
                trust_remote_code=False,
                output_loading_info=True,
                **options,
            )
    except (OSError, RuntimeError) as error:
        raise ModelConfigError(f"{WEIGHTS}: {' '.join(str(error).split())[:200]}") from None
    missing = [*info.get("missing_keys", ()), *info.get("mismatched_keys", ())]
    if missing or info.get("unexpected_keys"):
        raise ModelConfigError(
            f"{WEIGHTS} does not fit {config.model_type}: missing or mismatched "
            f"{sorted(map(str, missing))[:5]}, unexpected {sorted(info['unexpected_keys'])[:5]}"
        )
    network: nn.Module = model
    return network


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """transformers logs each load and shows a progress bar; the server logs its own line."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _check_weights(folder: Path) -> None:
    """Every weight file is a safetensors file inside the folder (links followed)."""
    if (folder / INDEX).exists():
        index = read_json(folder, INDEX)
        files = sorted(set(index.get("weight_map", {}).values()))
    elif (folder / WEIGHTS).exists():
        files = [WEIGHTS]
    else:
        raise ModelConfigError(
            f"no {WEIGHTS} in {folder.name}: only safetensors weights load (pickled "
            "pytorch_model.bin files are refused)"
        )
    for name in files:
        try:
            path = inside(folder, folder / str(name))
            with safetensors.safe_open(str(path), "pt"):
                pass
        except (ModelConfigError, safetensors.SafetensorError) as error:
            raise ModelConfigError(f"{str(name)[:80]}: {error}") from None
