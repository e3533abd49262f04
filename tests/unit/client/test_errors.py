"""gRPC status → typed exceptions."""

from __future__ import annotations

import grpc
import pytest
from saliency_client import errors
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb

NOT_OK = [code for code in grpc.StatusCode if code is not grpc.StatusCode.OK]


class _FailedCall(grpc.RpcError, grpc.Call):
    """The shape of the errors grpc raises: an RpcError that is also a Call."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    # The rest of grpc.Call's abstract interface, unused by the mapping.
    def initial_metadata(self) -> tuple[()]:
        return ()

    def trailing_metadata(self) -> tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float:
        return 0.0

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: object) -> bool:
        return False


@pytest.mark.parametrize("code", NOT_OK, ids=lambda c: c.name)
def test_every_status_has_its_own_class(code: grpc.StatusCode) -> None:
    cls = errors.STATUS_TO_ERROR[code]
    assert cls.code is code
    assert issubclass(cls, errors.SaliencyError)
    assert cls.__name__.lower() == code.name.replace("_", "").lower()


def test_the_table_has_one_class_per_status() -> None:
    assert set(errors.STATUS_TO_ERROR) == set(NOT_OK)
    assert len(set(errors.STATUS_TO_ERROR.values())) == len(NOT_OK)


@pytest.mark.parametrize("code", NOT_OK, ids=lambda c: c.name)
def test_rpc_errors_become_typed_errors(code: grpc.StatusCode) -> None:
    error = errors.from_rpc_error(_FailedCall(code, "model 'x' not found"))
    assert type(error) is errors.STATUS_TO_ERROR[code]
    assert error.code is code
    assert error.details == "model 'x' not found"
    assert str(error) == "model 'x' not found"


def test_rpc_error_without_status_is_unknown() -> None:
    assert isinstance(errors.from_rpc_error(grpc.RpcError("boom")), errors.Unknown)
    assert errors.from_rpc_error(_FailedCall(grpc.StatusCode.UNKNOWN, "")).details == ""


def test_translate_rpc_errors_reraises_typed_with_the_cause() -> None:
    failure = _FailedCall(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full")
    with (
        pytest.raises(errors.ResourceExhausted, match="queue full") as caught,
        errors.translate_rpc_errors(),
    ):
        raise failure
    assert caught.value.__cause__ is failure


@pytest.mark.parametrize("code", NOT_OK, ids=lambda c: c.name)
def test_item_errors_map_by_number(code: grpc.StatusCode) -> None:
    error = errors.from_item_error(pb.ItemError(code=code.value[0], message="bad image"))
    assert type(error) is errors.STATUS_TO_ERROR[code]
    assert error is not None
    assert error.details == "bad image"


def test_item_error_code_zero_is_no_error() -> None:
    assert errors.from_item_error(pb.ItemError()) is None
    assert errors.from_item_error(pb.ItemError(code=0, message="ignored")) is None


def test_unknown_item_error_number_keeps_it_in_the_message() -> None:
    error = errors.from_item_error(pb.ItemError(code=99, message="new"))
    assert isinstance(error, errors.Unknown)
    assert error.details == "status 99: new"
