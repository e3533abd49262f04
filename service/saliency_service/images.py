"""Turn what a client sent into the model's input: decode, check, convert to pixels in [0, 1]."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from saliency_service.errors import InvalidRequest

RawImage = bytes | np.ndarray

# Transparent pixels are composited over white: what browsers and document viewers show on
# their default page, so the model sees the picture its sender sees.
BACKGROUND = 1.0
# Pillow's modes for 1-channel integer samples wider than 8 bits (PNG's 16-bit grey).
_WIDE_GREY = ("I", "I;16", "I;16B", "I;16L")


def to_pixels(image: RawImage, channels: int, max_pixels: int) -> Tensor:
    """Decode or check one image and return it as float32 (C, H, W) in [0, 1].

    Encoded files must be PNG or JPEG; raw arrays (H, W) or (H, W, C) with C in {1, 3},
    uint8 (0..255) or float32 (0..1). Grey images are repeated to 3 channels for RGB models.

    Raises:
        InvalidRequest: undecodable, wrong shape or dtype, NaN/Inf, out of range, or larger
            than `max_pixels`; the message says which and what is allowed.
    """
    array = _decode(image, max_pixels) if isinstance(image, bytes) else _check_array(image)
    height, width = array.shape[:2]
    if height * width > max_pixels:
        raise InvalidRequest(
            f"image is {width}x{height} = {height * width} pixels; the limit is {max_pixels}"
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.dtype == np.uint8:
        # A writable copy: arrays may be read-only views of a request's bytes.
        pixels = torch.from_numpy(np.array(array, dtype=np.uint8)).float().div_(255.0)
    else:
        pixels = torch.from_numpy(np.array(array, dtype=np.float32))
    pixels = pixels.permute(2, 0, 1).contiguous()
    if pixels.shape[0] == 1 and channels == 3:
        pixels = pixels.expand(3, -1, -1).contiguous()
    if pixels.shape[0] != channels:
        raise InvalidRequest(f"image has {pixels.shape[0]} channels; the model takes {channels}")
    return pixels


def resize(values: Tensor, height: int, width: int) -> Tensor:
    """Bilinear (antialiased) resize of the last two dimensions; unchanged if already that size.

    Used for images and heatmaps alike, so it does not clamp: bilinear weights are positive and
    sum to one, so pixels in [0, 1] stay in [0, 1] up to rounding.
    """
    if tuple(values.shape[-2:]) == (height, width):
        return values
    lead = values.shape[:-2]
    batch = values.reshape(-1, 1, *values.shape[-2:]).float()
    out = F.interpolate(
        batch, size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return out.reshape(*lead, height, width)


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur truncated at ⌈3σ⌉, edges extended by replication.

    Replication, unlike reflection, works for any radius, even one wider than the image.

    Shape:
        images: (N, C, H, W); returns (N, C, H, W).
    """
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    across = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(across, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def _decode(data: bytes, max_pixels: int) -> np.ndarray:
    if not data:
        raise InvalidRequest("image is empty: send PNG/JPEG bytes or a pixel tensor")
    try:
        with warnings.catch_warnings():
            # Pillow warns (then errors) on huge images, whose size we check ourselves below,
            # and on corrupt EXIF metadata, which it skips (the image is then shown unrotated).
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=("PNG", "JPEG")) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise InvalidRequest(
                        f"image is {width}x{height} = {width * height} pixels; "
                        f"the limit is {max_pixels}"
                    )
                return _samples(ImageOps.exif_transpose(img))
    except InvalidRequest:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise InvalidRequest(
            f"cannot decode image ({len(data)} bytes): not a valid PNG or JPEG file"
        ) from None


def _samples(img: Image.Image) -> np.ndarray:
    """The displayed picture: (H, W) or (H, W, 3), uint8, or float32 in [0, 1].

    16-bit grey is scaled by 1/65535 (Pillow's "L" conversion would clip it at 255); alpha,
    and a palette's or a colour key's transparency, is composited over `BACKGROUND`.
    """
    key = img.info.get("transparency")
    if img.mode in _WIDE_GREY:
        samples = np.asarray(img, dtype=np.float32)
        alpha = (samples != key).astype(np.float32) if isinstance(key, int) else 1.0
        return np.clip(samples / 65535.0 * alpha + BACKGROUND * (1.0 - alpha), 0.0, 1.0)
    grey = img.mode in ("1", "L", "LA", "La")
    if img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or key is not None:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:]
        pixels = rgba[..., :3] * alpha + BACKGROUND * (1.0 - alpha)
        return np.ascontiguousarray(pixels[..., 0] if grey else pixels)
    # A writable copy: torch refuses to wrap read-only memory without a warning.
    return np.array(img.convert("L" if grey else "RGB"))


def _check_array(array: np.ndarray) -> np.ndarray:
    if array.dtype not in (np.uint8, np.float32):
        raise InvalidRequest(f"pixel dtype {array.dtype} is not supported; use uint8 or float32")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3)):
        raise InvalidRequest(
            f"pixel tensor has shape {tuple(array.shape)}; expected (H, W) or (H, W, C), C in 1, 3"
        )
    if min(array.shape[:2]) == 0:
        raise InvalidRequest(f"pixel tensor has shape {tuple(array.shape)}: no pixels")
    if array.dtype == np.float32:
        if not np.isfinite(array).all():
            raise InvalidRequest("pixel tensor contains NaN or Inf")
        if array.min() < 0.0 or array.max() > 1.0:
            raise InvalidRequest(
                f"float32 pixels must lie in [0, 1]; got [{array.min():g}, {array.max():g}]"
            )
    return array


# EXIF orientations that turn the stored image by 90° (its displayed width is its height).
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


def header_size(
    image: RawImage | InvalidRequest, what: str, max_pixels: int
) -> tuple[int, int]:
    """The (height, width) an image will have, read from its header or shape, not decoded.

    Requests are priced and admitted from these sizes before any image is decoded.

    Raises:
        InvalidRequest: `image` is one already (it could not be read), the header cannot be
            read, the array's shape is not an image's, or it has more than `max_pixels`.
    """
    if isinstance(image, InvalidRequest):
        raise image
    height, width = _header_size(image, what)
    if height * width > max_pixels:
        raise InvalidRequest(
            f"{what} is {width}x{height} = {height * width} pixels; the limit is {max_pixels}"
        )
    return height, width


def _header_size(image: RawImage, what: str) -> tuple[int, int]:
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3):
            raise InvalidRequest(f"{what}: pixel tensor has shape {tuple(image.shape)}; "
                                 "expected (H, W) or (H, W, C)")
        return int(image.shape[0]), int(image.shape[1])
    if not image:
        raise InvalidRequest(f"{what}: image is empty: send PNG/JPEG bytes or a pixel tensor")
    try:
        with warnings.catch_warnings():
            # As in `_decode`: huge sizes are checked by the caller; corrupt EXIF is skipped.
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(image), formats=("PNG", "JPEG")) as img:
                width, height = img.size
                if img.getexif().get(_EXIF_ORIENTATION) in _TRANSPOSING_ORIENTATIONS:
                    width, height = height, width
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise InvalidRequest(
            f"{what}: cannot decode image ({len(image)} bytes): not a valid PNG or JPEG file"
        ) from None
    return height, width
