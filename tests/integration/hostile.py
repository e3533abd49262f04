"""Hypothesis strategies for malformed and hostile saliency.v1 requests.

Parameters are drawn against the server's own `ListMethods` specs: just outside each bound,
NaN and infinities, the wrong type, unknown names. Valid values stay at the cheap end of each
range (the fewest steps or samples), so the requests that do reach compute finish quickly and
ten thousand requests fit in a test run.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np
from hypothesis import strategies as st
from PIL import Image
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb

T = TypeVar("T")
Specs = Mapping[str, Sequence[pb.ParamSpec]]
INT32 = st.integers(-(2**31), 2**31 - 1)
HUGE_INTS = [2**31 - 1, 2**32, 2**53 + 1, 2**62, 2**63 - 1, -(2**63)]
HOSTILE_NUMBERS = [math.nan, math.inf, -math.inf, -1.0, -0.0, 1e308, -1e308, 5e-324, 2.0**70]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_ELEMENTS = 40 * 40 * 3

small_ints = st.one_of(st.integers(-2, 8), INT32)
names = st.text(max_size=24) | st.sampled_from(["", "../../etc/passwd", "shapes\x00", "SHAPES"])


@st.composite
def tensors(draw: st.DrawFn, consistent: bool | None = None) -> pb.Tensor:
    """A Tensor that is often inconsistent: odd dtypes, shapes, byte counts and values."""
    if consistent is None:
        consistent = draw(st.booleans())
    if not consistent:
        dims = st.integers(-2, 40) | st.sampled_from(HUGE_INTS)
        return pb.Tensor(
            shape=draw(st.lists(dims, max_size=6)),
            dtype=draw(st.sampled_from([0, 1, 2]) | INT32),
            data=draw(st.binary(max_size=2048)),
        )
    shape = draw(st.lists(st.integers(0, 40), min_size=1, max_size=5))
    if math.prod(shape) > MAX_ELEMENTS:  # keep messages small; big ones are a case of their own
        shape = shape[:2]
    count = math.prod(shape)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        return pb.Tensor(shape=shape, dtype=pb.DTYPE_UINT8, data=rng.bytes(count))
    values = rng.random(count, dtype=np.float32)
    if count and draw(st.booleans()):  # plant hostile values among valid ones
        planted = draw(st.sampled_from([np.nan, np.inf, -np.inf, -1e-3, 1.0001, 3e38]))
        values[draw(st.integers(0, count - 1))] = planted
    return pb.Tensor(shape=shape, dtype=pb.DTYPE_FLOAT32, data=values.astype("<f4").tobytes())


@st.composite
def valid_png(draw: st.DrawFn) -> bytes:
    """A real PNG in a mode the server must convert (grey, RGBA, palette, 16-bit, 1-bit)."""
    mode = draw(st.sampled_from(["RGB", "L", "RGBA", "P", "I;16", "1", "LA"]))
    width, height = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    image = Image.new(mode, (width, height), color=draw(st.integers(0, 255)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@st.composite
def bomb_png(draw: st.DrawFn) -> bytes:
    """A PNG whose header claims a huge image (the body is tiny): a decompression bomb."""
    width = draw(st.integers(2**14, 2**31 - 1))
    height = draw(st.integers(2**14, 2**31 - 1))
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    body = _chunk(b"IDAT", zlib.compress(b"\0" * 4096, 9))
    return PNG_MAGIC + header + body + _chunk(b"IEND", b"")


@st.composite
def valid_pixels(draw: st.DrawFn) -> pb.Tensor:
    """A small, valid (H, W[, C]) tensor, so that some requests reach compute."""
    height, width = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    shape = [height, width, *draw(st.sampled_from([[], [1], [3]]))]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        return pb.Tensor(shape=shape, dtype=pb.DTYPE_UINT8, data=rng.bytes(math.prod(shape)))
    data = rng.random(math.prod(shape), dtype=np.float32).astype("<f4").tobytes()
    return pb.Tensor(shape=shape, dtype=pb.DTYPE_FLOAT32, data=data)


images = st.one_of(
    st.just(pb.Image()),
    st.binary(max_size=2048).map(lambda b: pb.Image(encoded=b)),
    st.binary(max_size=512).map(lambda b: pb.Image(encoded=PNG_MAGIC + b)),
    st.binary(max_size=512).map(lambda b: pb.Image(encoded=b"\xff\xd8\xff\xe0" + b)),
    bomb_png().map(lambda b: pb.Image(encoded=b)),
    st.tuples(valid_png(), st.floats(0, 1)).map(
        lambda pair: pb.Image(encoded=pair[0][: max(8, int(len(pair[0]) * pair[1]))])
    ),
    valid_png().map(lambda b: pb.Image(encoded=b)),
    tensors().map(lambda t: pb.Image(pixels=t)),
    valid_pixels().map(lambda t: pb.Image(pixels=t)),
)


def _numbers_for(spec: pb.ParamSpec | None) -> st.SearchStrategy[float]:
    hostile = st.sampled_from(HOSTILE_NUMBERS) | st.floats() | st.sampled_from(HUGE_INTS)
    if spec is None or spec.type not in ("number", "integer"):
        return hostile
    low = spec.minimum if spec.HasField("minimum") else 0.0
    edges = [low - 1, low - 0.5]
    if spec.HasField("maximum"):
        edges += [spec.maximum + 1, spec.maximum * 2 + 1, spec.maximum + 0.5]
    # Valid values only at the cheap end: the fewest steps, samples, restarts.
    valid = st.integers(math.ceil(low), math.ceil(low) + 3).map(float)
    if spec.type == "number" and spec.HasField("maximum"):
        valid = st.floats(low, spec.maximum)
    return hostile | st.sampled_from(edges) | valid


def values_for(spec: pb.ParamSpec | None) -> st.SearchStrategy[pb.Value]:
    """A Value for a parameter: often valid in kind, often not."""
    choices = list(spec.choices) if spec is not None else []
    texts = st.text(max_size=16) | st.sampled_from([*choices, "features", "fc", "../x"])
    return st.one_of(
        st.just(pb.Value()),
        _numbers_for(spec).map(lambda x: pb.Value(number=x)),
        texts.map(lambda t: pb.Value(text=t)),
        st.booleans().map(lambda b: pb.Value(flag=b)),
        tensors().map(lambda t: pb.Value(tensor=t)),
    )


def params(specs: Sequence[pb.ParamSpec]) -> st.SearchStrategy[dict[str, pb.Value]]:
    """A method's parameter map: the cheapest step counts, then hostile entries on top."""
    cheap = {
        spec.name: pb.Value(number=max(spec.minimum, 1.0))
        for spec in specs
        if spec.type == "integer" and spec.HasField("minimum") and spec.default.number > 8
    }
    entries = [st.tuples(st.just(spec.name), values_for(spec)) for spec in specs]
    entries.append(st.tuples(st.text(max_size=12), values_for(None)))
    return st.lists(st.one_of(entries), max_size=4).map(lambda pairs: {**cheap, **dict(pairs)})


def for_each_method(
    enum_values: Sequence[int], kind: str, specs: Specs, build: Callable[..., st.SearchStrategy[T]]
) -> st.SearchStrategy[T]:
    """`build(method=..., params=...)` for every real method, and for unset or absurd ones.

    Strategies are built once here rather than per example (hypothesis validates each new one).
    """
    known = [
        build(method=st.just(value), params=params(specs.get(f"{kind}:{value}", [])))
        for value in enum_values
        if value != 0
    ]
    absurd = st.sampled_from([0, -1, 999]) | INT32
    return st.one_of(*known, build(method=absurd, params=params([])))
