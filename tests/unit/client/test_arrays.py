"""numpy ⇄ Tensor / Image / Value conversions."""

from __future__ import annotations

import numpy as np
import pytest
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client.arrays import from_tensor, from_value, to_image, to_tensor, to_value

SHAPES = [(), (0,), (7,), (3, 5), (4, 5, 3), (2, 3, 4, 1)]


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_tensor_round_trip_keeps_values_shape_dtype(dtype: type, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    array: np.ndarray = (rng.random(shape) * 255).astype(dtype)
    back = from_tensor(to_tensor(array))
    assert back.dtype == dtype
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_tensor_is_little_endian_c_order_whatever_the_input_layout() -> None:
    array = np.arange(6, dtype=">f4").reshape(2, 3).T  # big-endian and Fortran-ordered
    tensor = to_tensor(array)
    assert list(tensor.shape) == [3, 2]
    assert tensor.dtype == pb.DTYPE_FLOAT32
    assert tensor.data == np.ascontiguousarray(array, dtype="<f4").tobytes()
    np.testing.assert_array_equal(from_tensor(tensor), array)


def test_float64_is_sent_as_float32() -> None:
    tensor = to_tensor(np.array([0.25, 0.5]))
    assert tensor.dtype == pb.DTYPE_FLOAT32
    assert from_tensor(tensor).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint16, np.float16, np.bool_])
def test_other_dtypes_are_refused(dtype: type) -> None:
    with pytest.raises(TypeError, match="uint8, float32 or float64"):
        to_tensor(np.zeros(3, dtype=dtype))


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (pb.Tensor(shape=[2, 2], dtype=pb.DTYPE_FLOAT32, data=b"\0" * 12), "needs 16 bytes"),
        (pb.Tensor(shape=[3], dtype=pb.DTYPE_UINT8, data=b"\0" * 4), "carries 4"),
        (pb.Tensor(shape=[1], dtype=pb.DTYPE_UNSPECIFIED, data=b"\0"), "dtype"),
        (pb.Tensor(shape=[-1, 2], dtype=pb.DTYPE_UINT8, data=b""), "negative"),
    ],
)
def test_malformed_tensors_raise_value_error(tensor: pb.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_tensor(tensor)


def test_encoded_bytes_are_sent_as_they_are() -> None:
    image = to_image(b"\x89PNG...")
    assert image.WhichOneof("data") == "encoded"
    assert image.encoded == b"\x89PNG..."


@pytest.mark.parametrize(
    ("array", "dtype"),
    [
        (np.full((4, 5, 3), 200, dtype=np.uint8), np.uint8),
        (np.full((4, 5), 0.5, dtype=np.float32), np.float32),
        (np.full((4, 5, 1), 0.5, dtype=np.float64), np.float32),
    ],
)
def test_pixels_are_sent_as_a_tensor(array: np.ndarray, dtype: type) -> None:
    image = to_image(array)
    assert image.WhichOneof("data") == "pixels"
    back = from_tensor(image.pixels)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, array.astype(dtype))


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (np.zeros((4,), dtype=np.uint8), ValueError),
        (np.zeros((1, 4, 4, 3), dtype=np.uint8), ValueError),
        (np.zeros((4, 4), dtype=np.int32), TypeError),
        ("cat.png", TypeError),
        ([[0, 1]], TypeError),
    ],
)
def test_bad_images_are_refused(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        to_image(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (True, "flag", True),
        (False, "flag", False),
        (np.bool_(True), "flag", True),
        (3, "number", 3.0),
        (np.int64(3), "number", 3.0),
        (0.5, "number", 0.5),
        (np.float32(0.5), "number", 0.5),
        ("layer4", "text", "layer4"),
    ],
)
def test_value_round_trip_picks_the_right_kind(value: object, kind: str, expected: object) -> None:
    message = to_value(value)  # type: ignore[arg-type]
    assert message.WhichOneof("kind") == kind
    back = from_value(message)
    assert back == expected
    assert type(back) is type(expected)


def test_tensor_value_round_trip() -> None:
    baseline = np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 2, 3)
    message = to_value(baseline)
    assert message.WhichOneof("kind") == "tensor"
    np.testing.assert_array_equal(from_value(message), baseline)


def test_unset_value_is_none_and_unknown_types_are_refused() -> None:
    assert from_value(pb.Value()) is None
    with pytest.raises(TypeError, match="bool, number, str or numpy array"):
        to_value([1, 2])  # type: ignore[arg-type]
