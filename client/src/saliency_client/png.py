"""A small PNG codec in numpy and zlib, so the client reads and writes PNGs without Pillow.

Scope: 8-bit greyscale, grey+alpha, RGB and RGBA, non-interlaced, all five row filters
(https://www.w3.org/TR/png-3/#9Filters). Palettes, 16-bit samples and Adam7 interlacing raise
ValueError; Pillow (the client's optional `images` extra) reads those.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Colour type of the PNG header ⇄ channels per pixel.
_CHANNELS_BY_COLOUR_TYPE = {0: 1, 4: 2, 2: 3, 6: 4}
_COLOUR_TYPE_BY_CHANNELS = {channels: kind for kind, channels in _CHANNELS_BY_COLOUR_TYPE.items()}
_NONE, _SUB, _UP, _AVERAGE, _PAETH = range(5)
_Int16Array = npt.NDArray[np.int16]


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _paeth(a: _Int16Array, b: _Int16Array, c: _Int16Array) -> _Int16Array:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    # Ties go to a, then b, as the specification orders them.
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def encode_png(pixels: npt.NDArray[np.uint8], *, level: int = 6) -> bytes:
    """Encode pixels as a PNG file, choosing each row's filter adaptively.

    Args:
        pixels: uint8 (H, W) grey, or (H, W, C) with C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
        level: zlib compression level, 0-9.

    Returns:
        The PNG file's bytes.

    Raises:
        TypeError: pixels are not uint8.
        ValueError: the shape is not one of the above, or an image side is 0.
    """
    if pixels.dtype != np.uint8:
        raise TypeError(f"PNG pixels must be uint8, got {pixels.dtype}")
    image = pixels[:, :, None] if pixels.ndim == 2 else pixels
    if image.ndim != 3 or image.shape[2] not in _COLOUR_TYPE_BY_CHANNELS or 0 in image.shape:
        raise ValueError(f"PNG pixels must be (H, W) or (H, W, 1-4), got shape {pixels.shape}")
    height, width, channels = image.shape
    rows = image.reshape(height, width * channels).astype(np.int16)
    # Every filter of the encoder reads raw bytes only, so all five vectorise over the image.
    left = np.pad(rows, ((0, 0), (channels, 0)))[:, :-channels]
    up = np.pad(rows, ((1, 0), (0, 0)))[:-1]
    up_left = np.pad(up, ((0, 0), (channels, 0)))[:, :-channels]
    candidates = np.stack(
        [rows, rows - left, rows - up, rows - (left + up) // 2, rows - _paeth(left, up, up_left)]
    ).astype(np.uint8)
    # The usual heuristic (libpng's): the filter whose bytes, read as signed, sum smallest.
    cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)
    chosen = cost.argmin(axis=0)
    filtered = candidates[chosen, np.arange(height)]
    scanlines = np.concatenate([chosen.astype(np.uint8)[:, None], filtered], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPE_BY_CHANNELS[channels], 0, 0, 0)
    return b"".join([
        _SIGNATURE,
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level)),
        _chunk(b"IEND", b""),
    ])


def _read_chunks(data: bytes) -> tuple[bytes, bytes]:
    """Return the IHDR payload and the concatenated IDAT payloads, checking every CRC."""
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG file (bad signature)")
    header, idat, offset = b"", bytearray(), len(_SIGNATURE)
    while offset + 8 <= len(data):
        (length,), kind = struct.unpack_from(">I", data, offset), data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        crc = data[offset + 8 + length : offset + 12 + length]
        if len(crc) < 4:
            raise ValueError(f"PNG truncated inside chunk {kind!r}")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + payload):
            raise ValueError(f"PNG chunk {kind!r} fails its CRC check")
        if kind == b"IHDR":
            header = payload
        elif kind == b"IDAT":
            idat += payload
        elif kind == b"IEND":
            break
        offset += 12 + length
    else:
        raise ValueError("PNG truncated: no IEND chunk")
    if len(header) != 13 or not idat:
        raise ValueError("PNG lacks a valid IHDR or any IDAT chunk")
    return header, bytes(idat)


def _unfilter_sequential(kind: int, line: bytearray, prior: bytes, bpp: int) -> None:
    """Undo Average or Paeth in place: each byte needs its already-decoded left neighbour."""
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prior[i]
        if kind == _AVERAGE:
            line[i] = (line[i] + (a + b) // 2) & 0xFF
            continue
        c = prior[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
        line[i] = (line[i] + predictor) & 0xFF


def decode_png(data: bytes) -> npt.NDArray[np.uint8]:
    """Decode an 8-bit, non-interlaced grey, grey+alpha, RGB or RGBA PNG.

    Returns:
        uint8 pixels (H, W) for greyscale, else (H, W, C) with C = 2, 3 or 4.

    Raises:
        ValueError: the file is corrupt or uses a feature outside this codec's scope (palette,
            16-bit samples, interlacing).
    """
    header, idat = _read_chunks(data)
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", header
    )
    if width == 0 or height == 0:
        raise ValueError("PNG header gives the image a side of 0 pixels")
    if depth != 8 or colour not in _CHANNELS_BY_COLOUR_TYPE:
        raise ValueError(
            f"unsupported PNG: bit depth {depth}, colour type {colour}; this codec reads 8-bit "
            "grey, grey+alpha, RGB and RGBA (install Pillow for others)"
        )
    if compression != 0 or filtering != 0 or interlace != 0:
        raise ValueError("unsupported PNG: interlaced, or an unknown compression or filter method")
    channels = _CHANNELS_BY_COLOUR_TYPE[colour]
    stride = width * channels
    try:
        raw = zlib.decompress(idat)
    except zlib.error as error:
        raise ValueError(f"PNG image data is corrupt: {error}") from error
    if len(raw) != height * (stride + 1):
        raise ValueError(f"PNG image data holds {len(raw)} bytes, expected {height * (stride + 1)}")
    scanlines = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height + 1, stride), dtype=np.uint8)  # row 0: the zero row above the image
    for y, (kind, line) in enumerate(zip(scanlines[:, 0], scanlines[:, 1:], strict=True)):
        prior = out[y]
        if kind == _NONE:
            out[y + 1] = line
        elif kind == _UP:
            out[y + 1] = line + prior
        elif kind == _SUB:
            # recon[i] = filt[i] + recon[i - bpp] is a running sum per channel, modulo 256.
            per_pixel = line.reshape(width, channels).astype(np.int64)
            out[y + 1] = (np.cumsum(per_pixel, axis=0) & 0xFF).reshape(stride)
        elif kind in (_AVERAGE, _PAETH):
            decoded = bytearray(line.tobytes())
            _unfilter_sequential(int(kind), decoded, prior.tobytes(), channels)
            out[y + 1] = np.frombuffer(decoded, dtype=np.uint8)
        else:
            raise ValueError(f"PNG row {y} has unknown filter type {kind}")
    pixels = out[1:].reshape(height, width, channels)
    return pixels[:, :, 0] if channels == 1 else pixels
