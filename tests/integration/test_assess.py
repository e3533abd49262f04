"""Assess and Explain's per-map diagnostics over a real server, against the metric functions run
here on the demo model loaded independently (the functions Quantus checks in tests/unit).

The service spreads the work over its engine (probes on ONNX Runtime or torch, randomised copies
on its workers); run in one process on the same maps, the same functions must give the same
numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import torch
from saliency_client import InvalidArgument, ResourceExhausted, SaliencyClient, cli, encode_png
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc
from saliency_service.assessment import METRICS
from saliency_service.assessment.base import (
    ExplainedMetric,
    ForwardMetric,
    MapMetric,
    MaskMetric,
    RandomisationMetric,
)
from saliency_service.assessment.running import (
    explained_metric,
    forward_metric,
    randomisation_metric,
)
from saliency_service.demo.shapes import generate
from saliency_service.explainers import EXPLAINERS
from saliency_service.models.classifier import Classifier
from saliency_service.params import resolve_params
from torch import Tensor, nn

from tests.integration.oracles import demo_classifier

pytestmark = pytest.mark.integration
MODEL = "shapes"
CAM_LAYER = "features.18"
# Small settings: every metric, a few images, a few seconds.
SETTINGS: dict[str, dict[str, Any]] = {
    "deletion": {"steps": 8},
    "insertion": {"steps": 8, "order": "lerf"},
    "road": {"steps": 3},
    "infidelity": {"samples": 4},
    "faithfulness_correlation": {"runs": 8, "subset_size": 64},
    "model_randomisation": {"checkpoints": 3},
    "random_logit": {"similarity": "spearman"},
    "max_sensitivity": {"samples": 2},
    "local_lipschitz": {"samples": 2},
    "pointing_game": {}, "relevance_mass": {}, "relevance_rank": {},
    "energy_pointing_game": {}, "sparseness": {}, "entropy": {},
}


@pytest.fixture(scope="module")
def batch():  # type: ignore[no-untyped-def]
    return generate(3, seed=4343)


@pytest.fixture(scope="module")
def local_model() -> Classifier:
    return demo_classifier()


@pytest.fixture(scope="module")
def client(grpc_target: str):  # type: ignore[no-untyped-def]
    with SaliencyClient(grpc_target, timeout=600) as client:
        yield client


@pytest.fixture(scope="module")
def assessed(client, batch):  # type: ignore[no-untyped-def]
    stages: list[tuple[float, str]] = []
    masks = [batch.masks[0], batch.masks[1], None]
    report = client.assess(
        list(batch.images), model=MODEL, methods=["grad_cam", ("vanilla_gradient", {})],
        metrics=SETTINGS, targets=[int(t) for t in batch.labels], masks=masks,
        progress=lambda fraction, stage: stages.append((fraction, stage)),
    )
    return report, stages


def explain_with(name: str) -> Any:
    spec = EXPLAINERS[name]

    def explain(model: nn.Module, images: Tensor, targets: Tensor) -> Tensor:
        own: dict[str, Any] = {p.name: p.default for p in spec.params}
        if "layer" in own:
            own["layer"] = model.network.get_submodule(CAM_LAYER)  # type: ignore[union-attr]
        return spec.function(model, images, targets, **own).heatmap

    return explain


def local_value(name: str, method: str, model: Classifier, images: Tensor, maps: Tensor,
                targets: Tensor, masks: Tensor) -> Any:
    """The metric computed here, in one process, from the given maps."""
    spec = METRICS[name]
    params = resolve_params(name, spec.params, SETTINGS[name])
    if isinstance(spec, ForwardMetric):
        return forward_metric(spec, model, images, maps, targets, params)
    if isinstance(spec, ExplainedMetric):
        return explained_metric(spec, lambda x, t: explain_with(method)(model, x, t), images,
                                maps, targets, 6, params)
    if isinstance(spec, RandomisationMetric):
        return randomisation_metric(spec, model, lambda m: m.network, explain_with(method),
                                    images, targets, params)
    if isinstance(spec, MaskMetric):
        return spec.score(maps, masks, params)
    assert isinstance(spec, MapMetric)
    return spec.score(maps, params)


def test_assess_reports_every_metric_with_its_settings_and_progress(assessed, batch) -> None:  # type: ignore[no-untyped-def]
    report, stages = assessed
    fractions = [f for f, _ in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(stage == "grad_cam: model_randomisation" for _, stage in stages)
    assert report.targets == [int(t) for t in batch.labels]
    assert [m.method for m in report.methods] == ["grad_cam", "vanilla_gradient"]
    assert report.method("grad_cam").params == {"layer": CAM_LAYER}
    for method in report.methods:
        assert [r.name for r in method.metrics] == list(SETTINGS)
        for result in method.metrics:
            assert len(result.values) == 3
            finite = [v for v in result.values if not math.isnan(v)]
            assert result.mean == pytest.approx(sum(finite) / len(finite))
            assert result.higher_is_better == METRICS[result.name].higher_is_better
        deletion = method.metric("deletion")
        assert deletion.settings == {"steps": 8, "order": "morf", "replacement": "blur",
                                     "blur_sigma": 5.0, "seed": 0}
        assert deletion.curve_x[0] == 0 and deletion.curve_x[-1] == 1
        assert all(len(c) == len(deletion.curve_x) == 9 for c in deletion.curves)
        randomisation = method.metric("model_randomisation")
        assert len(randomisation.curve_labels) == 3 and randomisation.curve_labels[-1] == (
            "features.0")
        assert math.isnan(method.metric("pointing_game").values[2])  # no ground truth
    assert report.means()["grad_cam"]["pointing_game"] == report.method("grad_cam").metric(
        "pointing_game").mean


@pytest.mark.parametrize("method", ["grad_cam", "vanilla_gradient"])
def test_every_metric_equals_the_functions_run_in_one_process(assessed, client, batch,
                                                               local_model, method) -> None:  # type: ignore[no-untyped-def]
    report, _ = assessed
    targets = [int(t) for t in batch.labels]
    explained = client.explain(list(batch.images), model=MODEL, method=method, targets=targets)
    maps = torch.from_numpy(np.stack([r.heatmap for r in explained]))
    images = torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 255
    masks = torch.from_numpy(batch.masks)
    masks[2] = False
    for result in report.method(method).metrics:
        expected = local_value(result.name, method, local_model, images, maps,
                               torch.tensor(targets), masks)
        np.testing.assert_allclose(result.values, expected.values.numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=result.name)
        if expected.curves is not None:
            np.testing.assert_allclose(result.curves, expected.curves.numpy(), rtol=1e-4,
                                       atol=1e-5, err_msg=result.name)


def test_explain_puts_per_map_metrics_in_the_diagnostics(client, batch, local_model) -> None:  # type: ignore[no-untyped-def]
    targets = [int(t) for t in batch.labels]
    results = client.explain(list(batch.images), model=MODEL, method="vanilla_gradient",
                             targets=targets, assess="deletion, sparseness,max_sensitivity")
    maps = torch.from_numpy(np.stack([r.heatmap for r in results]))
    images = torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 255
    for name, key in (("deletion", "deletion_auc"), ("sparseness", "sparseness"),
                      ("max_sensitivity", "max_sensitivity")):
        spec = METRICS[name]
        params = resolve_params(name, spec.params, {})
        if isinstance(spec, ForwardMetric):
            expected = forward_metric(spec, local_model, images, maps, torch.tensor(targets),
                                      params)
        elif isinstance(spec, ExplainedMetric):
            expected = explained_metric(
                spec, lambda x, t: explain_with("vanilla_gradient")(local_model, x, t), images,
                maps, torch.tensor(targets), 6, params)
        else:
            assert isinstance(spec, MapMetric)
            expected = spec.score(maps, params)
        got = [r.explanations[0].diagnostics[key] for r in results]
        np.testing.assert_allclose(got, expected.values.numpy(), rtol=1e-4, err_msg=name)


def test_list_metrics_and_the_cli(client, grpc_target, batch, tmp_path: Path,  # type: ignore[no-untyped-def]
                                  capsys) -> None:
    infos = {m.name: m for m in client.list_metrics()}
    assert list(infos) == list(METRICS)
    assert {n for n, m in infos.items() if m.needs_ground_truth} == {
        "pointing_game", "relevance_mass", "relevance_rank", "energy_pointing_game"}
    assert [p.name for p in infos["deletion"].params] == ["steps", "order", "replacement",
                                                          "blur_sigma", "seed"]
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"image{i}.png")
        paths[-1].write_bytes(encode_png(batch.images[i]))
    out = tmp_path / "report.json"
    status = cli.main(["--target", grpc_target, "assess", *map(str, paths), "--method",
                       "grad_cam", "--method", "vanilla_gradient:reduce=abs_max", "--metric",
                       "deletion:steps=4,replacement=black", "--metric", "sparseness",
                       "--json", str(out)])
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["METHOD", "deletion", "↓", "sparseness", "↑"]
    assert [line.split()[0] for line in lines[1:3]] == ["grad_cam", "vanilla_gradient"]
    saved = json.loads(out.read_text())
    assert saved["methods"][0]["metrics"][0]["settings"]["replacement"] == "black"


def test_bad_assessments_are_refused_before_any_work(client, grpc_target, batch) -> None:  # type: ignore[no-untyped-def]
    images = list(batch.images[:2])
    bad: list[tuple[dict[str, Any], str]] = [
        ({"metrics": {"deletion": {"steps": 0}}}, "at least 1"),
        ({"metrics": ["pointing_game"]}, "need a mask or boxes"),
        ({"metrics": ["sparseness"], "masks": [np.ones((5, 5)), None]}, "mask is"),
        ({"metrics": ["sparseness"], "methods": ["class_model_visualization"]}, "nothing"),
        ({"metrics": ["sparseness"], "targets": 6}, "not in 0..5"),
        ({"metrics": ["sparseness"], "boxes": [[(0, 0, 80, 10)], None]}, "outside"),
        ({"metrics": {"faithfulness_correlation": {"subset_size": 5000}}}, "4096 pixels"),
    ]
    for overrides, message in bad:
        arguments = {"methods": ["grad_cam"], **overrides}
        with pytest.raises(InvalidArgument, match=message):
            client.assess(images, model=MODEL, **arguments)
    with pytest.raises(InvalidArgument, match="not a per-map metric"):
        client.explain(images, model=MODEL, method="grad_cam", assess="road")
    with grpc.insecure_channel(grpc_target) as channel:
        stub = pb_grpc.SaliencyStub(channel)
        request = pb.AssessRequest(model=MODEL, items=[pb.AssessItem()], methods=[
            pb.ExplainSpec(method=pb.EXPLAIN_METHOD_GRAD_CAM)], metrics=[pb.MetricSpec(
                metric=99)])
        with pytest.raises(grpc.RpcError) as unknown:
            next(stub.Assess(request, timeout=60))
        assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert "metric is unset or unknown (99)" in unknown.value.details()  # type: ignore[attr-defined]


def test_an_assessment_over_the_cost_cap_is_refused_before_it_starts(client, batch) -> None:  # type: ignore[no-untyped-def]
    stages: list[str] = []
    with pytest.raises(ResourceExhausted, match="limit per request"):
        client.assess(list(batch.images), model=MODEL,
                      methods=[("integrated_gradients", {"steps": 4096})],
                      metrics={"max_sensitivity": {"samples": 1024}},
                      progress=lambda _f, stage: stages.append(stage))
    assert stages == []


def test_hostile_assess_messages_get_short_clean_statuses(grpc_target, batch) -> None:  # type: ignore[no-untyped-def]
    image = pb.Image(pixels=pb.Tensor(shape=[64, 64, 3], dtype=pb.DTYPE_UINT8,
                                      data=batch.images[0].tobytes()))
    grad_cam = [pb.ExplainSpec(method=pb.EXPLAIN_METHOD_GRAD_CAM)]
    deletion = [pb.MetricSpec(metric=pb.ASSESSMENT_METRIC_DELETION)]
    pointing = [pb.MetricSpec(metric=pb.ASSESSMENT_METRIC_POINTING_GAME)]
    hostile = [
        pb.AssessRequest(model=MODEL, items=[pb.AssessItem(image=image)], methods=grad_cam,
                         metrics=[pb.MetricSpec(metric=pb.ASSESSMENT_METRIC_DELETION,
                                                params={"steps": pb.Value(number=math.nan)})]),
        pb.AssessRequest(model=MODEL, items=[pb.AssessItem(image=image)], methods=grad_cam,
                         metrics=[pb.MetricSpec(metric=pb.ASSESSMENT_METRIC_DELETION,
                                                params={"x" * 100_000: pb.Value(flag=True)})]),
        pb.AssessRequest(model=MODEL, items=[pb.AssessItem(image=image, mask=pb.Tensor(
            shape=[0, 2**62], dtype=pb.DTYPE_UINT8))], methods=grad_cam, metrics=pointing),
        pb.AssessRequest(model=MODEL, items=[pb.AssessItem(image=image, mask=pb.Tensor(
            shape=[2, 2, 2], dtype=pb.DTYPE_UINT8, data=bytes(8)))], methods=grad_cam,
            metrics=pointing),
        pb.AssessRequest(model=MODEL, items=[pb.AssessItem(image=image, boxes=[
            pb.BoundingBox(x0=-5, y0=0, x1=2**31 - 1, y1=3)])], methods=grad_cam,
            metrics=pointing),
        pb.AssessRequest(model=MODEL, items=[pb.AssessItem(image=image, target=2**31 - 1)],
                         methods=grad_cam, metrics=deletion),
        pb.AssessRequest(model=MODEL, items=[pb.AssessItem(image=image)], methods=grad_cam,
                         metrics=deletion * 1000),
        pb.AssessRequest(model=MODEL, items=[], methods=grad_cam, metrics=deletion),
        pb.AssessRequest(model=MODEL, items=[pb.AssessItem(image=image)],
                         methods=[pb.ExplainSpec(method=pb.EXPLAIN_METHOD_GRAD_CAM, params={
                             "layer": pb.Value(text="y" * 100_000)})], metrics=deletion),
        pb.AssessRequest(model=MODEL, items=[pb.AssessItem(image=pb.Image(encoded=b"junk"))],
                         methods=grad_cam, metrics=deletion),
    ]
    with grpc.insecure_channel(grpc_target, options=[("grpc.enable_retries", 0)]) as channel:
        stub = pb_grpc.SaliencyStub(channel)
        for request in hostile:
            with pytest.raises(grpc.RpcError) as refused:
                list(stub.Assess(request, timeout=60))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request  # type: ignore[attr-defined]
            assert len(refused.value.details()) < 400  # type: ignore[attr-defined]
