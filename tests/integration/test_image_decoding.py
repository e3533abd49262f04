"""Encoded files mean what every viewer shows: 16-bit depth, EXIF orientation, transparency.

Each file goes through the real server next to the pixels a viewer would display, computed here
with numpy from the file's stored samples (not with the server's decoder), sent as a raw tensor;
the model must see the same image from both.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from saliency_client import SaliencyClient
from saliency_service.demo.shapes import generate

pytestmark = pytest.mark.integration
MODEL = "shapes"
CLASSES = 6


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    """A demo image, 64 × 96 (non-square, so a rotation changes the shape), uint8 RGB."""
    (image,) = generate(1, seed=5150).images
    return np.concatenate([image, image[:, :32]], axis=1)


@pytest.fixture
def client(grpc_target: str):  # type: ignore[no-untyped-def]
    with SaliencyClient(grpc_target) as client:
        yield client


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def logits(client: SaliencyClient, image: np.ndarray | bytes) -> np.ndarray:
    (prediction,) = client.predict([image], model=MODEL, top_k=CLASSES)
    assert prediction.error is None
    by_class = {score.index: score.logit for score in prediction.top}
    return np.array([by_class[c] for c in range(CLASSES)])


def test_a_16_bit_grey_png_is_scaled_not_clipped(client, picture) -> None:  # type: ignore[no-untyped-def]
    grey16 = (picture.mean(axis=2) * 257).astype(np.uint16)  # 0..65535, most far above 255
    data = encode(Image.fromarray(grey16))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")  # really a 16-bit file
    expected = logits(client, (grey16 / 65535).astype(np.float32))
    np.testing.assert_allclose(logits(client, data), expected, atol=1e-4)


def test_a_48_bit_rgb_png_matches_its_8_bit_samples(client, picture) -> None:  # type: ignore[no-untyped-def]
    # Pillow has no 16-bit RGB mode in memory, so write the PNG by hand from a 16-bit array.
    rgb16 = picture.astype(np.uint16) * 257
    data = _png_rgb16(rgb16)
    np.testing.assert_allclose(logits(client, data), logits(client, picture), atol=1e-4)


@pytest.mark.parametrize(
    ("orientation", "display"),
    [
        (3, lambda a: np.rot90(a, 2)),  # 180°
        (6, lambda a: np.rot90(a, -1)),  # stored sideways: turn 90° clockwise to display
        (8, lambda a: np.rot90(a, 1)),  # turn 90° counter-clockwise
        (2, lambda a: a[:, ::-1]),  # mirrored
    ],
)
def test_jpeg_exif_orientation_is_applied(client, picture, orientation, display) -> None:  # type: ignore[no-untyped-def]
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(picture), "JPEG", quality=95, exif=exif)
    stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))  # samples as stored
    shown = np.ascontiguousarray(display(stored))
    np.testing.assert_allclose(logits(client, data), logits(client, shown), atol=1e-4)
    (from_file,) = client.explain([data], model=MODEL, method="grad_cam")
    (from_pixels,) = client.explain([shown], model=MODEL, method="grad_cam")
    heatmap = from_file.explanations[0].heatmap
    assert heatmap.shape == shown.shape[:2]  # the displayed size, not the stored one
    np.testing.assert_allclose(heatmap, from_pixels.explanations[0].heatmap, atol=1e-4)


def _composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Over a white background: `c · a + 1 · (1 − a)` in [0, 1]."""
    a = alpha[..., None].astype(np.float32) / 255
    return (rgb.astype(np.float32) / 255 * a + (1 - a)).astype(np.float32)


def _alpha(shape: tuple[int, int]) -> np.ndarray:
    """Opaque left third, half-transparent middle third, fully transparent right third."""
    alpha = np.full(shape, 255, np.uint8)
    alpha[:, shape[1] // 3 : 2 * shape[1] // 3] = 128
    alpha[:, 2 * shape[1] // 3 :] = 0
    return alpha


def test_rgba_is_composited_on_white(client, picture) -> None:  # type: ignore[no-untyped-def]
    alpha = _alpha(picture.shape[:2])
    data = encode(Image.fromarray(np.dstack([picture, alpha]), "RGBA"))
    expected = logits(client, _composite(picture, alpha))
    np.testing.assert_allclose(logits(client, data), expected, atol=1e-4)
    # What the transparent pixels hide must not matter.
    hidden = picture.copy()
    hidden[alpha == 0] = 255 - hidden[alpha == 0]
    other = encode(Image.fromarray(np.dstack([hidden, alpha]), "RGBA"))
    np.testing.assert_allclose(logits(client, other), expected, atol=1e-4)


def test_grey_with_alpha_is_composited_on_white(client, picture) -> None:  # type: ignore[no-untyped-def]
    grey = picture.mean(axis=2).astype(np.uint8)
    alpha = _alpha(grey.shape)
    data = encode(Image.fromarray(np.dstack([grey, alpha]), "LA"))
    expected = _composite(grey[..., None], alpha)[..., 0]
    np.testing.assert_allclose(logits(client, data), logits(client, expected), atol=1e-4)


def test_a_palette_with_a_transparent_entry_is_composited_on_white(client, picture) -> None:  # type: ignore[no-untyped-def]
    indexed = Image.fromarray(picture).quantize(colors=16, dither=Image.Dither.NONE)
    index = np.asarray(indexed).copy()
    index[:, 64:] = 0  # entry 0 is the transparent one
    indexed = Image.fromarray(index, "P")
    palette = np.array(Image.fromarray(picture).quantize(colors=16).getpalette()[: 16 * 3])
    indexed.putpalette(palette.tolist())
    data = encode(indexed, transparency=0)
    colours = palette.reshape(-1, 3).astype(np.uint8)[index]
    alpha = np.where(index == 0, 0, 255).astype(np.uint8)
    expected = logits(client, _composite(colours, alpha))
    np.testing.assert_allclose(logits(client, data), expected, atol=1e-4)


def _png_rgb16(rgb: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (colour type 2, bit depth 16), written chunk by chunk."""
    import struct
    import zlib

    height, width, _ = rgb.shape
    rows = b"".join(b"\0" + rgb[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))
