"""Raw saliency.v1 messages for tests that must send what no well-behaved client would."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb


def pixels(array: np.ndarray) -> pb.Image:
    dtype = {np.dtype(np.uint8): pb.DTYPE_UINT8, np.dtype(np.float32): pb.DTYPE_FLOAT32}
    return pb.Image(pixels=pb.Tensor(shape=array.shape, dtype=dtype[array.dtype],
                                     data=np.ascontiguousarray(array).tobytes()))


def png(array: np.ndarray) -> pb.Image:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return pb.Image(encoded=buffer.getvalue())


def as_array(tensor: pb.Tensor) -> np.ndarray:
    assert tensor.dtype == pb.DTYPE_FLOAT32
    return np.frombuffer(tensor.data, dtype="<f4").reshape(tuple(tensor.shape))


def number(x: float) -> pb.Value:
    return pb.Value(number=x)
