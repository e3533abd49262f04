"""Assess requests from Python arguments, and reports back to dataclasses (no server needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from saliency_client import _convert
from saliency_client._assess import assess_request
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client.arrays import from_tensor, to_value
from saliency_client.errors import InvalidArgument

IMAGES = np.zeros((2, 4, 5, 3), dtype=np.uint8)


def request(**overrides: object) -> pb.AssessRequest:
    arguments: dict[str, object] = {
        "model": "m", "methods": ["grad_cam"], "metrics": ["deletion"], "targets": None,
        "masks": None, "boxes": None, "priority": 0,
    }
    arguments.update(overrides)
    return assess_request(IMAGES, **arguments)  # type: ignore[arg-type]


def test_methods_and_metrics_by_name_mapping_or_pairs() -> None:
    built = request(methods=["grad_cam", ("smoothgrad", {"samples": 8}), ("smoothgrad", {})],
                    metrics={"deletion": {"steps": 10}, "model-randomisation": {}})
    assert [m.method for m in built.methods] == [pb.EXPLAIN_METHOD_GRAD_CAM,
                                                pb.EXPLAIN_METHOD_SMOOTHGRAD,
                                                pb.EXPLAIN_METHOD_SMOOTHGRAD]
    assert built.methods[1].params["samples"].number == 8
    assert [m.metric for m in built.metrics] == [pb.ASSESSMENT_METRIC_DELETION,
                                                pb.ASSESSMENT_METRIC_MODEL_RANDOMISATION]
    assert built.metrics[0].params["steps"].number == 10
    with pytest.raises(InvalidArgument, match="unknown metric 'nope'; valid: deletion, "):
        request(metrics=["nope"])
    with pytest.raises(InvalidArgument, match="list of names"):
        request(metrics="deletion")


def test_targets_masks_and_boxes_per_image() -> None:
    masks = np.zeros((2, 4, 5), dtype=bool)
    masks[1, 1:3, 2:4] = True
    built = request(targets=[3, None], masks=masks, boxes=[None, [(0, 0, 2, 2), (1, 1, 5, 4)]])
    first, second = built.items
    assert first.HasField("target") and first.target == 3
    assert not second.HasField("target")
    np.testing.assert_array_equal(from_tensor(second.mask), masks[1].astype(np.uint8))
    assert [(b.x0, b.y0, b.x1, b.y1) for b in second.boxes] == [(0, 0, 2, 2), (1, 1, 5, 4)]
    assert not first.boxes
    only_second = request(masks=[None, np.ones((4, 5), np.float32)])
    assert not only_second.items[0].HasField("mask")
    assert only_second.items[1].mask.dtype == pb.DTYPE_FLOAT32


@pytest.mark.parametrize(("overrides", "message"), [
    ({"masks": [None]}, "masks has 1 entries for 2 images"),
    ({"masks": [None, np.ones((2, 2, 2))]}, r"masks\[1\] must be \(H, W\)"),
    ({"masks": np.ones((4, 5))}, "one per image"),
    ({"boxes": [None]}, "boxes has 1 entries"),
    ({"boxes": [None, [(1, 2, 3)]]}, "a box is"),
    ({"boxes": [None, [(1, 2, 3, 4.5)]]}, "must be an integer"),
    ({"targets": [1, 2, 3]}, "targets has 3 entries"),
])
def test_bad_arguments_fail_before_sending(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        request(**overrides)


def test_reports_convert_with_nan_values_and_curves() -> None:
    message = pb.AssessReport(targets=[2, 0], methods=[pb.MethodAssessment(
        method=pb.EXPLAIN_METHOD_GRAD_CAM, params={"layer": to_value("layer4")},
        metrics=[
            pb.MetricResult(metric=pb.ASSESSMENT_METRIC_DELETION, settings={
                "steps": to_value(2), "replacement": to_value("blur")},
                values=[0.25, 0.5], mean=0.375, curve_x=[0, 0.5, 1],
                curves=[pb.Curve(values=[1, 0.2, 0]), pb.Curve(values=[1, 0.8, 0])],
                mean_curve=[1, 0.5, 0]),
            pb.MetricResult(metric=pb.ASSESSMENT_METRIC_POINTING_GAME, values=[1, math.nan],
                            mean=1, higher_is_better=True),
        ])])
    report = _convert.assess_report(message)
    assert report.targets == [2, 0]
    grad_cam = report.method("grad_cam")
    assert grad_cam.params == {"layer": "layer4"}
    deletion = grad_cam.metric("deletion")
    assert deletion.settings == {"steps": 2.0, "replacement": "blur"}
    assert deletion.curves == [[1, pytest.approx(0.2), 0], [1, pytest.approx(0.8), 0]]
    assert math.isnan(grad_cam.metric("pointing_game").values[1])
    assert report.means() == {"grad_cam": {"deletion": 0.375, "pointing_game": 1.0}}
    with pytest.raises(KeyError):
        report.method("smoothgrad")
    with pytest.raises(KeyError):
        grad_cam.metric("road")
