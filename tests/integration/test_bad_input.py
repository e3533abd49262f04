"""Bad input gets a clear status and message, one bad image fails alone, and the server goes on."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc
from saliency_service.demo.shapes import generate

from tests.integration.messages import number, pixels, png

pytestmark = pytest.mark.integration
MODEL = "shapes"
GRAD_CAM = pb.EXPLAIN_METHOD_GRAD_CAM


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return generate(4, seed=777).images


@pytest.fixture
def stub(channel: grpc.Channel) -> pb_grpc.SaliencyStub:
    return pb_grpc.SaliencyStub(channel)


def explain(stub: pb_grpc.SaliencyStub, items: list[pb.ExplainItem], method: int = GRAD_CAM,
            model: str = MODEL, **params: pb.Value) -> pb.ExplainResponse:
    return stub.Explain(pb.ExplainRequest(model=model, method=method, items=items, params=params),
                        timeout=120)


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_one_corrupt_image_of_four_fails_alone(stub, images) -> None:  # type: ignore[no-untyped-def]
    items = [pb.ExplainItem(image=png(image)) for image in images]
    items[2] = pb.ExplainItem(image=pb.Image(encoded=b"\x89PNG\r\n\x1a\n garbage"))
    response = explain(stub, items)
    assert len(response.results) == 4
    codes = [r.error.code for r in response.results]
    assert codes == [0, 0, grpc.StatusCode.INVALID_ARGUMENT.value[0], 0]
    assert "cannot decode" in response.results[2].error.message
    for i in (0, 1, 3):
        heatmap = response.results[i].explanations[0].heatmap
        assert list(heatmap.shape) == list(images[i].shape[:2])


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (pixels(np.zeros((8, 8, 5), np.uint8)), "shape"),
        (pixels(np.zeros((8, 8, 3), np.float64).astype(np.float32)[..., :0]), "shape"),
        (pb.Image(pixels=pb.Tensor(shape=[8, 8, 3], dtype=pb.DTYPE_FLOAT32, data=b"\0" * 12)),
         "bytes"),
        (pb.Image(pixels=pb.Tensor(shape=[8, 8, 3], dtype=7, data=b"\0" * 192)), "dtype"),
        (pixels(np.full((8, 8, 3), np.nan, np.float32)), "NaN"),
        (pixels(np.full((8, 8, 3), np.inf, np.float32)), "NaN or Inf"),
        (pixels(np.full((8, 8, 3), 2.0, np.float32)), "[0, 1]"),
        (pixels(np.zeros((5000, 5000), np.uint8)), "limit"),
        (pb.Image(), "no image data"),
        (pb.Image(encoded=b""), "empty"),
    ],
    ids=["channels", "no-pixels", "short-data", "dtype", "nan", "inf", "range", "oversized",
         "unset", "empty"],
)
def test_bad_image_is_refused_with_a_reason(stub, images, image, message) -> None:  # type: ignore[no-untyped-def]
    items = [pb.ExplainItem(image=image), pb.ExplainItem(image=png(images[0]))]
    response = explain(stub, items)
    bad, good = response.results
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert message in bad.error.message
    assert good.error.code == 0 and len(good.explanations) == 1


def test_oversized_png_is_refused_before_decoding(stub) -> None:  # type: ignore[no-untyped-def]
    # 6000x6000 of zeros compresses to a few KB: a small decompression bomb.
    big = png(np.zeros((6000, 6000), np.uint8))
    assert len(big.encoded) < 200_000
    response = explain(stub, [pb.ExplainItem(image=big)])
    assert response.results[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "limit" in response.results[0].error.message


def test_target_out_of_range_fails_that_image_only(stub, images) -> None:  # type: ignore[no-untyped-def]
    items = [pb.ExplainItem(image=png(images[0]), targets=[1000]),
             pb.ExplainItem(image=png(images[1]), targets=[1])]
    bad, good = explain(stub, items).results
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "out of range" in bad.error.message and "classes" in bad.error.message
    assert good.explanations[0].target == 1


@pytest.mark.parametrize(
    ("request_kwargs", "code", "message"),
    [
        ({"model": "no-such-model"}, grpc.StatusCode.NOT_FOUND, "available: shapes"),
        ({"method": 0}, grpc.StatusCode.INVALID_ARGUMENT, "grad_cam"),
        ({"method": 999}, grpc.StatusCode.INVALID_ARGUMENT, "unknown"),
        ({"params": {"steps": number(-3)}}, grpc.StatusCode.INVALID_ARGUMENT, "steps"),
        ({"params": {"no_such_param": number(1)}}, grpc.StatusCode.INVALID_ARGUMENT,
         "unknown parameter"),
        ({"params": {"localize_threshold": number(float("nan"))}},
         grpc.StatusCode.INVALID_ARGUMENT, "finite"),
        ({"items": []}, grpc.StatusCode.INVALID_ARGUMENT, "no images"),
    ],
    ids=["unknown-model", "unset-method", "unknown-method", "negative-steps", "unknown-param",
         "nan-param", "no-items"],
)
def test_bad_request_gets_a_clear_status(stub, images, request_kwargs, code, message) -> None:  # type: ignore[no-untyped-def]
    fields = {"model": MODEL, "method": GRAD_CAM,
              "items": [pb.ExplainItem(image=png(images[0]))]}
    if "steps" in request_kwargs.get("params", {}):
        fields["method"] = pb.EXPLAIN_METHOD_INTEGRATED_GRADIENTS
    fields.update(request_kwargs)
    error = rpc_error(stub.Explain, pb.ExplainRequest(**fields), timeout=60)
    assert error.code() == code
    assert message in error.details()


@pytest.mark.parametrize(
    ("params", "message"),
    [({"eps": number(1.5)}, "eps"), ({"eps": number(-0.1)}, "eps"),
     ({"steps": number(0)}, "steps"), ({"steps": number(10**9)}, "steps")],
    ids=["eps-too-big", "eps-negative", "zero-steps", "absurd-steps"],
)
def test_attack_parameters_out_of_range(stub, images, params, message) -> None:  # type: ignore[no-untyped-def]
    request = pb.AttackRequest(model=MODEL, method=pb.ATTACK_METHOD_PGD, params=params,
                               items=[pb.AttackItem(image=png(images[0]))])
    error = rpc_error(stub.Attack, request, timeout=60)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()


def test_predict_top_k_out_of_range(stub, images) -> None:  # type: ignore[no-untyped-def]
    request = pb.PredictRequest(model=MODEL, images=[png(images[0])], top_k=10_000)
    error = rpc_error(stub.Predict, request, timeout=60)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "top_k" in error.details()


def test_server_keeps_serving_after_bad_requests(stub, images) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        rpc_error(stub.Explain, pb.ExplainRequest(model="nope"), timeout=60)
        explain(stub, [pb.ExplainItem(image=pb.Image(encoded=b"junk"))])
    response = stub.Predict(pb.PredictRequest(model=MODEL, images=[png(images[0])]), timeout=60)
    assert response.predictions[0].error.code == 0
    assert len(response.predictions[0].top) == 5
