"""Response messages → result dataclasses."""

from __future__ import annotations

import numpy as np
import pytest
from saliency_client import _convert
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client.arrays import to_tensor, to_value
from saliency_client.errors import InvalidArgument, ResourceExhausted

HEATMAP = np.arange(20, dtype=np.float32).reshape(4, 5)
BAD_IMAGE = pb.ItemError(code=3, message="image 1 is 2x2")


def test_explain_results_keep_order_and_per_image_errors() -> None:
    response = pb.ExplainResponse(results=[
        pb.ExplainResult(
            predicted_class=2, predicted_label="cat",
            explanations=[pb.ClassExplanation(
                target=2, label="cat", heatmap=to_tensor(HEATMAP),
                diagnostics={"completeness_gap": 0.01}, box=pb.BoundingBox(x0=1, y0=0, x1=4, y1=3),
            )],
        ),
        pb.ExplainResult(error=BAD_IMAGE),
        pb.ExplainResult(error=pb.ItemError(code=0), predicted_class=1),
    ])
    first, second, third = _convert.explain_results(response)
    assert first.ok
    assert first.predicted_label == "cat"
    explanation = first.explanations[0]
    np.testing.assert_array_equal(explanation.heatmap, HEATMAP)
    assert first.heatmap is explanation.heatmap
    assert explanation.diagnostics == {"completeness_gap": pytest.approx(0.01)}
    assert explanation.box == (1, 0, 4, 3)
    assert explanation.attributions is None
    assert explanation.mask is None
    assert not second.ok
    assert isinstance(second.error, InvalidArgument)
    assert second.heatmap is None
    assert second.explanations == []
    with pytest.raises(InvalidArgument, match="image 1 is 2x2"):
        second.raise_for_error()
    assert third.ok
    third.raise_for_error()


def test_explanation_without_heatmap_has_an_empty_one() -> None:
    image = np.full((4, 5, 3), 0.5, dtype=np.float32)
    response = pb.ExplainResponse(results=[
        pb.ExplainResult(explanations=[pb.ClassExplanation(target=1, image=to_tensor(image))])
    ])
    explanation = _convert.explain_results(response)[0].explanations[0]
    assert explanation.heatmap.shape == (0, 0)
    assert explanation.box is None
    np.testing.assert_array_equal(explanation.image, image)


def test_attack_results() -> None:
    adversarial = np.full((4, 5, 3), 0.25, dtype=np.float32)
    response = pb.AttackResponse(results=[
        pb.AttackResult(
            adversarial=to_tensor(adversarial), label_before=1, label_after_torch=2,
            label_after_onnx=2, success=True, engines_agree=True, linf=0.03, l2=0.5,
            target_class=-1, eps=0.03,
        ),
        pb.AttackResult(target_class=5),
        pb.AttackResult(error=pb.ItemError(code=8, message="too big")),
    ])
    untargeted, targeted, failed = _convert.attack_results(response)
    np.testing.assert_array_equal(untargeted.adversarial, adversarial)
    assert untargeted.target_class is None
    assert (untargeted.label_after_onnx, untargeted.success, untargeted.eps) == (2, True, 0.03)
    assert targeted.target_class == 5
    assert isinstance(failed.error, ResourceExhausted)
    assert failed.adversarial is None


def test_predictions() -> None:
    response = pb.PredictResponse(predictions=[
        pb.Prediction(top=[pb.ClassScore(index=3, label="dog", logit=2.5, probability=0.75)]),
        pb.Prediction(error=BAD_IMAGE),
    ])
    good, bad = _convert.predictions(response)
    assert [(s.index, s.label, s.logit, s.probability) for s in good.top] == [(3, "dog", 2.5, 0.75)]
    assert bad.top == []
    assert isinstance(bad.error, InvalidArgument)


def test_methods_and_param_defaults() -> None:
    response = pb.ListMethodsResponse(methods=[
        pb.MethodInfo(name="integrated_gradients", explain=pb.EXPLAIN_METHOD_INTEGRATED_GRADIENTS,
                      params=[
                          pb.ParamSpec(name="steps", type="integer", default=to_value(32),
                                       minimum=1, maximum=1024),
                          pb.ParamSpec(name="method", type="text", default=to_value("riemann"),
                                       choices=["riemann", "gausslegendre"]),
                          pb.ParamSpec(name="baseline", type="tensor"),
                      ]),
        pb.MethodInfo(name="pgd", attack=pb.ATTACK_METHOD_PGD),
    ])
    ig, pgd = _convert.method_infos(response)
    assert (ig.kind, pgd.kind) == ("explain", "attack")
    steps, method, baseline = ig.params
    assert steps.default == 32
    assert type(steps.default) is int
    assert (steps.minimum, steps.maximum) == (1.0, 1024.0)
    assert method.choices == ("riemann", "gausslegendre")
    assert method.minimum is None
    assert baseline.default is None


def test_model_info() -> None:
    info = _convert.model_info(pb.ModelInfo(
        name="shapes", architecture="builtin:shapes_cnn", input_height=32, input_width=32,
        input_channels=3, mean=[0.5] * 3, std=[0.25] * 3, labels=["circle", "square"],
        default_cam_layer="conv2", layers=["conv1", "conv2"], onnx_max_abs_logit_gap=1e-5,
    ))
    assert info.labels == ("circle", "square")
    assert info.layers == ("conv1", "conv2")
    assert info.mean == (0.5, 0.5, 0.5)
    assert info.onnx_max_abs_logit_gap == pytest.approx(1e-5)


def test_evaluate_report_uses_short_method_names() -> None:
    report = _convert.evaluate_report(pb.EvaluateReport(
        clean_accuracy=0.9,
        curves=[pb.AccuracyCurve(attack=pb.ATTACK_METHOD_FGSM, epsilons=[0, 0.1],
                                 accuracy=[0.9, 0.2], onnx_accuracy=[0.9, 0.25])],
        stability=[pb.SaliencyStability(method=pb.EXPLAIN_METHOD_GRAD_CAM,
                                        attack=pb.ATTACK_METHOD_PGD, eps=0.1, spearman=[0.5],
                                        ssim=[0.4], mean_spearman=0.5, mean_ssim=0.4)],
    ))
    assert report.curves[0].attack == "fgsm"
    assert report.curves[0].onnx_accuracy == pytest.approx([0.9, 0.25])
    assert (report.stability[0].method, report.stability[0].attack) == ("grad_cam", "pgd")


def test_stream_result_carries_the_whole_request_error() -> None:
    failed = _convert.explain_stream_result(pb.ExplainStreamResponse(
        request_id="a", error=pb.ItemError(code=5, message="no model 'x'")
    ))
    assert failed.request_id == "a"
    assert not failed.ok
    assert failed.results == []
    done = _convert.explain_stream_result(pb.ExplainStreamResponse(
        request_id="b", response=pb.ExplainResponse(results=[pb.ExplainResult()])
    ))
    assert done.ok
    assert len(done.results) == 1
