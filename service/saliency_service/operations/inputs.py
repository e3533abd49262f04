"""An image as sent, made the model's input: decoded, checked, resized, in [0, 1]."""

from __future__ import annotations

from torch import Tensor

from saliency_service.errors import InvalidRequest
from saliency_service.images import RawImage, resize, to_pixels
from saliency_service.models.config import ModelConfig
from saliency_service.models.loading import LoadedModel


def model_input(
    model: LoadedModel, image: RawImage | InvalidRequest, max_pixels: int
) -> tuple[Tensor, tuple[int, int]]:
    """The image at the model's input size, (C, H, W) in [0, 1], and its own (height, width).

    Raises:
        InvalidRequest: undecodable, or not an image this model can take (images.to_pixels).
    """
    return config_input(model.config, image, max_pixels)


def config_input(
    config: ModelConfig, image: RawImage | InvalidRequest, max_pixels: int
) -> tuple[Tensor, tuple[int, int]]:
    """`model_input` from the model's config alone (bulk jobs decode where no model is loaded)."""
    if isinstance(image, InvalidRequest):
        raise image
    pixels = to_pixels(image, config.channels, max_pixels)
    size = (int(pixels.shape[1]), int(pixels.shape[2]))
    return resize(pixels, config.height, config.width).clamp_(0.0, 1.0), size
