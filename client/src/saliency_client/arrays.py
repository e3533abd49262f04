"""numpy ⇄ saliency.v1 messages: Tensor, Image and Value.

Tensors travel in C order and little-endian whatever the host's byte order. Only uint8 and
float32 exist on the wire; float64 arrays are narrowed to float32 on the way out, because numpy
makes float64 by default and no method needs the extra precision.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from saliency_client._proto.saliency.v1 import saliency_pb2

ParamValue = bool | int | float | str | npt.NDArray[np.generic]
"""A method parameter's value on the client side: flag, number, text or tensor."""

_WIRE_DTYPES: dict[np.dtype[np.generic], saliency_pb2.DType] = {
    np.dtype(np.uint8): saliency_pb2.DTYPE_UINT8,
    np.dtype(np.float32): saliency_pb2.DTYPE_FLOAT32,
}
_NUMPY_DTYPES = {wire: dtype for dtype, wire in _WIRE_DTYPES.items()}


def _wire_dtype(array: npt.NDArray[np.generic]) -> np.dtype[np.generic]:
    native = array.dtype.newbyteorder("=")
    if native == np.float64:
        return np.dtype(np.float32)
    if native not in _WIRE_DTYPES:
        raise TypeError(f"arrays must be uint8, float32 or float64, got {array.dtype}")
    return native


def to_tensor(array: npt.NDArray[np.generic]) -> saliency_pb2.Tensor:
    """Pack an array as a Tensor message.

    Args:
        array: uint8, float32 or float64 (sent as float32) of any shape and byte order.

    Returns:
        The tensor, little-endian in C order.

    Raises:
        TypeError: the array has another dtype.
    """
    dtype = _wire_dtype(array)
    data = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<")).tobytes()
    return saliency_pb2.Tensor(shape=array.shape, dtype=_WIRE_DTYPES[dtype], data=data)


def from_tensor(tensor: saliency_pb2.Tensor) -> npt.NDArray[np.generic]:
    """Unpack a Tensor message into a writable native-endian array.

    Raises:
        ValueError: the dtype is unspecified or unknown, a dimension is negative, or the data's
            length does not match the shape.
    """
    dtype = _NUMPY_DTYPES.get(tensor.dtype)
    if dtype is None:
        raise ValueError(f"tensor has no supported dtype (got enum value {tensor.dtype})")
    shape = tuple(tensor.shape)
    if any(dim < 0 for dim in shape):
        raise ValueError(f"tensor shape {shape} has a negative dimension")
    expected = math.prod(shape) * dtype.itemsize
    if expected != len(tensor.data):
        raise ValueError(
            f"tensor of shape {shape} and dtype {dtype} needs {expected} bytes "
            f"but carries {len(tensor.data)}"
        )
    wire = np.frombuffer(tensor.data, dtype=dtype.newbyteorder("<")).reshape(shape)
    # frombuffer shares the message's immutable bytes; copy so callers get an ordinary array.
    return wire.astype(dtype, copy=True)


def to_image(image: npt.NDArray[np.generic] | bytes) -> saliency_pb2.Image:
    """Pack one image as an Image message.

    Args:
        image: an encoded PNG or JPEG file (sent as is), or pixels (H, W, C) or (H, W),
            uint8 in [0, 255] or float32/float64 in [0, 1].

    Raises:
        TypeError: neither bytes nor an array, or pixels of another dtype.
        ValueError: pixels that are not 2-D or 3-D.
    """
    if isinstance(image, bytes):
        return saliency_pb2.Image(encoded=image)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"an image must be a numpy array or encoded bytes, got {type(image)}")
    if image.ndim not in (2, 3):
        raise ValueError(f"image pixels must be (H, W, C) or (H, W), got shape {image.shape}")
    return saliency_pb2.Image(pixels=to_tensor(image))


def to_value(value: ParamValue) -> saliency_pb2.Value:
    """Pack a parameter's value as a Value message.

    Raises:
        TypeError: the value is none of bool, number, str or numpy array.
    """
    # bool before int: True is an int in Python, but the server wants a flag, not the number 1.
    if isinstance(value, bool | np.bool_):
        return saliency_pb2.Value(flag=bool(value))
    if isinstance(value, int | float | np.integer | np.floating):
        return saliency_pb2.Value(number=float(value))
    if isinstance(value, str):
        return saliency_pb2.Value(text=value)
    if isinstance(value, np.ndarray):
        return saliency_pb2.Value(tensor=to_tensor(value))
    raise TypeError(f"a parameter must be a bool, number, str or numpy array, got {type(value)}")


def from_value(value: saliency_pb2.Value) -> ParamValue | None:
    """Unpack a Value message; numbers come back as float, an unset value as None."""
    kind = value.WhichOneof("kind")
    if kind == "number":
        return value.number
    if kind == "text":
        return value.text
    if kind == "flag":
        return value.flag
    if kind == "tensor":
        return from_tensor(value.tensor)
    return None
