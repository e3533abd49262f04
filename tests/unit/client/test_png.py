"""The built-in PNG codec, with Pillow as the oracle in both directions."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image
from saliency_client.png import decode_png, encode_png

SHAPES = {
    "L": (13, 17),
    "LA": (13, 17, 2),
    "RGB": (13, 17, 3),
    "RGBA": (13, 17, 4),
}


def _images() -> list[np.ndarray]:
    """Noise (every filter wins somewhere) and smooth gradients (Sub/Up/Paeth win), per mode."""
    rng = np.random.default_rng(42)
    images = []
    for shape in SHAPES.values():
        images.append(rng.integers(0, 256, shape, dtype=np.uint8))
        y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
        ramp = (7 * x + 11 * y) % 256
        ramp = ramp if len(shape) == 2 else np.repeat(ramp[..., None], shape[2], axis=2)
        images.append((ramp + rng.integers(0, 4, shape)).astype(np.uint8))
    return images


IMAGES = _images()


def _pillow_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _row_filters(png: bytes) -> set[int]:
    """The filter type byte of every row of a PNG (8-bit, non-interlaced)."""
    offset, idat = 8, b""
    width = height = channels = 0
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, payload = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, _, colour = struct.unpack(">IIBB", payload[:10])
            channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += payload
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    return {raw[row * stride] for row in range(height)}


@pytest.mark.parametrize("pixels", IMAGES, ids=lambda a: f"{a.shape}")
def test_decodes_pillow_files_exactly(pixels: np.ndarray) -> None:
    decoded = decode_png(_pillow_png(pixels))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, pixels)


@pytest.mark.parametrize("pixels", IMAGES, ids=lambda a: f"{a.shape}")
def test_pillow_decodes_our_files_exactly(pixels: np.ndarray) -> None:
    with Image.open(io.BytesIO(encode_png(pixels))) as image:
        np.testing.assert_array_equal(np.asarray(image), pixels)


def test_the_oracle_files_exercise_all_five_filters() -> None:
    # Guards the two tests above: they only prove the unfilters Pillow actually used.
    used = set().union(*(_row_filters(_pillow_png(pixels)) for pixels in IMAGES))
    assert used == {0, 1, 2, 3, 4}
    ours = set().union(*(_row_filters(encode_png(pixels)) for pixels in IMAGES))
    assert ours == {0, 1, 2, 3, 4}


def test_round_trip_and_single_channel_is_grey() -> None:
    pixels = IMAGES[2][:, :, :3]
    np.testing.assert_array_equal(decode_png(encode_png(pixels)), pixels)
    grey = IMAGES[0]
    np.testing.assert_array_equal(decode_png(encode_png(grey[:, :, None])), grey)


def test_adaptive_filters_compress_smooth_images() -> None:
    y, x = np.mgrid[0:64, 0:64]
    ramp = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    unfiltered = zlib.compress(b"".join(b"\0" + row.tobytes() for row in ramp), 6)
    assert len(encode_png(ramp)) < len(unfiltered) / 2


@pytest.mark.parametrize(
    ("mode", "message"),
    [("P", "colour type 3"), ("I;16", "bit depth 16"), ("1", "bit depth 1")],
)
def test_unsupported_formats_raise_value_error(mode: str, message: str) -> None:
    buffer = io.BytesIO()
    Image.new(mode, (4, 3)).save(buffer, format="PNG")
    with pytest.raises(ValueError, match=message):
        decode_png(buffer.getvalue())


def test_interlaced_files_raise_value_error() -> None:
    png = bytearray(encode_png(IMAGES[0]))
    png[8 + 8 + 12] = 1  # the IHDR's interlace byte
    png[8 + 8 + 13 : 8 + 8 + 17] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    with pytest.raises(ValueError, match="interlaced"):
        decode_png(bytes(png))


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda png: b"GIF89a" + png[6:], "signature"),
        (lambda png: png[:-20], "truncated"),
        (lambda png: png[:45] + bytes([png[45] ^ 0xFF]) + png[46:], "CRC"),  # in IDAT
    ],
)
def test_corrupt_files_raise_value_error(corrupt: Callable[[bytes], bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_png(corrupt(encode_png(IMAGES[4])))


@pytest.mark.parametrize(
    ("pixels", "error"),
    [
        (np.zeros((4, 4), dtype=np.float32), TypeError),
        (np.zeros((4, 4, 5), dtype=np.uint8), ValueError),
        (np.zeros((0, 4), dtype=np.uint8), ValueError),
        (np.zeros((2, 4, 4, 3), dtype=np.uint8), ValueError),
    ],
)
def test_encoder_refuses_what_png_cannot_hold(pixels: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_png(pixels)
