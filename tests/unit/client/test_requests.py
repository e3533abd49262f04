"""Python arguments → request messages (shared by the sync and asyncio clients)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from saliency_client._methods import (
    ATTACK_METHODS,
    EXPLAIN_METHODS,
    attack_method_name,
    explain_method_name,
)
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._requests import (
    ExplainJob,
    attack_request,
    evaluate_request,
    explain_request,
    explain_stream_request,
    images_to_proto,
    params_to_proto,
    predict_request,
)
from saliency_client.arrays import from_tensor
from saliency_client.errors import InvalidArgument

RGB = np.zeros((4, 5, 3), dtype=np.uint8)
GREY = np.ones((4, 5), dtype=np.float32)
PNG = b"\x89PNG fake"


def _explain(images: object = (RGB, RGB, RGB), **kwargs: object) -> pb.ExplainRequest:
    defaults: dict[str, object] = {
        "model": "m", "method": "grad_cam", "targets": None, "top_k": 1, "params": {},
        "priority": 0,
    }
    return explain_request(images, **(defaults | kwargs))  # type: ignore[arg-type]


def _attack(images: object = (RGB, RGB), **kwargs: object) -> pb.AttackRequest:
    defaults: dict[str, object] = {
        "model": "m", "method": "pgd", "labels": None, "target_classes": None, "eps": None,
        "params": {}, "priority": 0,
    }
    return attack_request(images, **(defaults | kwargs))  # type: ignore[arg-type]


def test_image_forms() -> None:
    assert [i.WhichOneof("data") for i in images_to_proto(RGB)] == ["pixels"]
    assert [i.WhichOneof("data") for i in images_to_proto(PNG)] == ["encoded"]
    mixed = images_to_proto([RGB, PNG, GREY])
    assert [i.WhichOneof("data") for i in mixed] == ["pixels", "encoded", "pixels"]
    assert list(mixed[2].pixels.shape) == [4, 5]
    batch = np.stack([RGB, RGB + 1, RGB + 2])
    converted = images_to_proto(batch)
    assert len(converted) == 3
    np.testing.assert_array_equal(from_tensor(converted[2].pixels), RGB + 2)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([], "no images"),
        ([RGB, "cat.png"], "image 1"),
        ([RGB, np.zeros((4, 5), dtype=np.int16)], "image 1: arrays must be uint8"),
        (np.zeros((2, 2, 2, 2, 2), dtype=np.uint8), "image 0"),
    ],
)
def test_bad_images_raise_invalid_argument(images: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        images_to_proto(images)  # type: ignore[arg-type]


def test_targets_none_explains_the_top_k() -> None:
    request = _explain(top_k=3)
    assert [list(item.targets) for item in request.items] == [[], [], []]
    assert [item.top_k for item in request.items] == [3, 3, 3]


def test_one_int_target_applies_to_every_image() -> None:
    assert [list(item.targets) for item in _explain(targets=7).items] == [[7], [7], [7]]


def test_per_image_targets_mix_ints_lists_and_none() -> None:
    request = _explain(targets=[3, None, [1, np.int64(2)]])
    assert [list(item.targets) for item in request.items] == [[3], [], [1, 2]]
    arrays = _explain(targets=[np.array([0, 9]), (), np.int32(4)])
    assert [list(item.targets) for item in arrays.items] == [[0, 9], [], [4]]
    from_array = _explain(targets=np.array([4, 5, 6]))
    assert [list(item.targets) for item in from_array.items] == [[4], [5], [6]]


@pytest.mark.parametrize(
    ("targets", "message"),
    [([1, 2], "targets has 2 entries for 3 images"), (True, "integer"), ([1, 2.5, 3], "targets")],
)
def test_bad_targets_raise_invalid_argument(targets: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        _explain(targets=targets)


def test_method_names_map_to_the_enum() -> None:
    assert _explain(method="integrated_gradients").method == pb.EXPLAIN_METHOD_INTEGRATED_GRADIENTS
    assert _explain(method="Grad-CAM").method == pb.EXPLAIN_METHOD_GRAD_CAM
    assert _attack(method="mi_fgsm").method == pb.ATTACK_METHOD_MI_FGSM


def test_every_enum_value_has_a_short_name_that_maps_back() -> None:
    assert len(EXPLAIN_METHODS) == len(pb.ExplainMethod.keys()) - 1
    assert len(ATTACK_METHODS) == len(pb.AttackMethod.keys()) - 1
    for short, full in EXPLAIN_METHODS.items():
        assert explain_method_name(pb.ExplainMethod.Value(full)) == short
    for short, full in ATTACK_METHODS.items():
        assert attack_method_name(pb.AttackMethod.Value(full)) == short
    assert explain_method_name(999) == "999"


def test_unknown_method_lists_the_valid_names() -> None:
    with pytest.raises(InvalidArgument, match="unknown explain method 'nope'; valid: attention, "):
        _explain(method="nope")
    with pytest.raises(InvalidArgument,
                       match="unknown attack method 'nope'; valid: apgd_ce, apgd_t, autoattack, "):
        _attack(method="nope")


def test_params_become_values_with_bool_checked_before_int() -> None:
    baseline = np.zeros((4, 5, 3), dtype=np.float32)
    params = params_to_proto(
        {"abs": True, "steps": 5, "stdev": 0.15, "layer": "layer4", "baseline": baseline,
         "seed": None}
    )
    kinds = {name: value.WhichOneof("kind") for name, value in params.items()}
    assert kinds == {"abs": "flag", "steps": "number", "stdev": "number", "layer": "text",
                     "baseline": "tensor"}
    assert params["abs"].flag is True
    assert params["steps"].number == 5.0


def test_bad_param_names_its_key() -> None:
    with pytest.raises(InvalidArgument, match="parameter 'steps'"):
        params_to_proto({"steps": [1, 2]})  # type: ignore[dict-item]


def test_explain_request_carries_model_params_and_priority() -> None:
    request = _explain(model="resnet18", params={"steps": 32}, priority=2)
    assert (request.model, request.priority) == ("resnet18", 2)
    assert request.params["steps"].number == 32.0


def test_single_eps_is_the_request_parameter() -> None:
    request = _attack(eps=8 / 255, params={"steps": 10})
    assert request.params["eps"].number == pytest.approx(8 / 255)
    assert request.params["steps"].number == 10.0
    assert not any(item.HasField("eps") for item in request.items)


def test_per_image_eps_sets_each_item() -> None:
    request = _attack(images=[RGB, RGB, RGB], eps=[0.01, None, 0.03])
    assert "eps" not in request.params
    assert [item.HasField("eps") for item in request.items] == [True, False, True]
    assert request.items[2].eps == pytest.approx(0.03)


def test_labels_and_target_classes_per_image_or_broadcast() -> None:
    request = _attack(labels=[1, None], target_classes=4)
    assert [item.HasField("label") for item in request.items] == [True, False]
    assert request.items[0].label == 1
    assert [item.target_class for item in request.items] == [4, 4]
    unset = _attack()
    assert not any(item.HasField("label") or item.HasField("target_class") for item in unset.items)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps": [0.1]}, "eps has 1 entries for 2 images"),
        ({"labels": [1, 2, 3]}, "labels has 3"),
        ({"eps": "big"}, "eps must be a number"),
        ({"target_classes": [0.5, 1]}, r"target_classes\[0\] must be an integer"),
    ],
)
def test_bad_attack_arguments_raise_invalid_argument(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        _attack(**kwargs)


def test_predict_request() -> None:
    request = predict_request([RGB, PNG], model="m", top_k=3, priority=1)
    assert (len(request.images), request.top_k, request.priority) == (2, 3, 1)


def test_evaluate_request() -> None:
    request = evaluate_request(
        [RGB, RGB], np.array([3, 4]), model="m", attacks={"pgd": {"steps": 5}, "fgsm": {}},
        epsilons=[0.0, 1 / 255], stability_methods=["grad_cam"],
    )
    assert [item.label for item in request.items] == [3, 4]
    methods = [spec.method for spec in request.attacks]
    assert methods == [pb.ATTACK_METHOD_PGD, pb.ATTACK_METHOD_FGSM]
    assert request.attacks[0].params["steps"].number == 5.0
    assert list(request.stability_methods) == [pb.EXPLAIN_METHOD_GRAD_CAM]
    names_only = evaluate_request(
        RGB, [1], model="m", attacks=["bim"], epsilons=[0.1], stability_methods=[]
    )
    assert [spec.method for spec in names_only.attacks] == [pb.ATTACK_METHOD_BIM]


def test_explain_stream_request_carries_the_id() -> None:
    job = ExplainJob("req-1", RGB, model="m", method="cam", targets=2, params={"layer": "conv"})
    request = explain_stream_request(job)
    assert request.request_id == "req-1"
    assert request.request.method == pb.EXPLAIN_METHOD_CAM
    assert list(request.request.items[0].targets) == [2]
    assert request.request.params["layer"].text == "conv"
