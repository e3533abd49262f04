"""The images the page works on: demo pictures shipped with the package, and uploads.

Every image is read once, on arrival: checked to be a picture of bounded size (from its header,
before decoding), turned into RGB, shrunk to at most `MAX_SIDE` pixels a side (the server
resizes to the model's input anyway, and maps come back at the sent size), and kept as PNG.
Uploads are held in memory, least recently used dropped first, so a permalink to an upload
lasts as long as the web server holds it.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt
from PIL import Image

MAX_SIDE = 512
MAX_PIXELS = 50_000_000
"""Largest picture accepted, from its header: a decompression bomb is refused unread."""
_ID = re.compile(r"(demo-[a-z0-9_-]{1,40}|u-[0-9a-f]{20})")
_FORMATS = {"PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"}
_NAME_CHARS = 120


class ImageError(ValueError):
    """An upload that is no readable picture, or an image the store does not hold."""


@dataclass(frozen=True, eq=False)
class StoredImage:
    """One image as the page knows it.

    Shape:
        pixels: (H, W, 3) uint8, H and W at most MAX_SIDE.
    """

    id: str
    name: str
    """The file name as given, control characters removed and shortened: shown, never trusted."""
    png: bytes
    pixels: npt.NDArray[np.uint8]
    label: str | None = None
    """A demo picture's true class name."""

    def resized(self, height: int, width: int, channels: int) -> npt.NDArray[np.float32]:
        """The picture at a model's input size, floats in [0, 1] (bilinear, as servers do).

        Shape:
            returns (height, width, channels).
        """
        picture = Image.fromarray(self.pixels)
        if channels == 1:
            picture = picture.convert("L")
        array = np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR))
        return (array.reshape(height, width, channels) / np.float32(255)).astype(np.float32)

    def describe(self) -> dict[str, object]:
        """The image's JSON for the page."""
        height, width = self.pixels.shape[:2]
        return {"id": self.id, "name": self.name, "width": width, "height": height,
                "label": self.label, "url": f"/api/images/{self.id}"}


def clean_name(name: str) -> str:
    """A file name fit to show and to quote: no path, no control characters, bounded."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    return printable.strip()[:_NAME_CHARS] or "image.png"


def _decode(data: bytes) -> npt.NDArray[np.uint8]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture: Image.Image = Image.open(io.BytesIO(data))
            if picture.format not in _FORMATS:
                raise ImageError(f"a {picture.format} file is not a picture format we read")
            width, height = picture.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"the picture is {width}x{height}; the limit is "
                                 f"{MAX_PIXELS:,} pixels")
            picture.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG decodes at a reduced size
            if picture.mode in ("RGBA", "LA", "P", "PA"):
                # Transparent pixels are shown on white, as a browser shows them.
                rgba = picture.convert("RGBA")
                picture = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            picture = picture.convert("RGB")
            picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            return np.asarray(picture, dtype=np.uint8).copy()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"the picture has more pixels than the limit, {MAX_PIXELS:,}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageError(f"cannot read the file as a picture ({type(error).__name__})") from None


def _png(pixels: npt.NDArray[np.uint8]) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _demo_images() -> list[StoredImage]:
    folder = resources.files("saliency_client.web") / "static" / "demo"
    images = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".png"):
            stem = entry.name.removesuffix(".png")
            data = entry.read_bytes()
            images.append(StoredImage(f"demo-{stem}", entry.name, data, _decode(data), stem))
    return images


class ImageStore:
    """Demo images and uploads by id; uploads bounded by their total size in memory."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        """Load the demo images; hold at most `max_bytes` of uploads."""
        self.demo = _demo_images()
        self._max_bytes = max_bytes
        self._uploads: OrderedDict[str, StoredImage] = OrderedDict()
        self._by_id = {image.id: image for image in self.demo}

    def add(self, data: bytes, name: str) -> StoredImage:
        """Read an upload and keep it; the same picture twice is stored once.

        Raises:
            ImageError: not a picture we read, or too many pixels.
        """
        pixels = _decode(data)
        png = _png(pixels)
        image_id = "u-" + hashlib.sha256(png).hexdigest()[:20]
        image = StoredImage(image_id, clean_name(name), png, pixels)
        self._uploads[image_id] = image
        self._uploads.move_to_end(image_id)
        while len(self._uploads) > 1 and self._held() > self._max_bytes:
            self._uploads.popitem(last=False)
        return image

    def _held(self) -> int:
        return sum(len(i.png) + i.pixels.nbytes for i in self._uploads.values())

    def get(self, image_id: str) -> StoredImage:
        """The image with this id.

        Raises:
            ImageError: a malformed id, or an upload no longer held.
        """
        if not _ID.fullmatch(image_id):
            raise ImageError("malformed image id")
        if image_id in self._by_id:
            return self._by_id[image_id]
        if image_id in self._uploads:
            self._uploads.move_to_end(image_id)
            return self._uploads[image_id]
        raise ImageError("this image is no longer held by the web server (uploads are kept in "
                         "memory, the oldest dropped first): upload it again")
