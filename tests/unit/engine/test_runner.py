"""One batch on one instance: results per item, out-of-memory splits, failures and dead items."""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch
from saliency_service.attacks import ATTACKS
from saliency_service.engine.precision import Precision
from saliency_service.engine.work import Job
from saliency_service.errors import Cancelled, DeadlineExceeded, InvalidRequest, Overloaded
from saliency_service.explainers import EXPLAINERS
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.attack_batch import AttackInput
from saliency_service.operations.explain_batch import ExplainInput, explain
from saliency_service.params import ParamValue

from tests.unit.engine.support import (
    SIZE,
    attack_job,
    explain_inputs,
    explain_job,
    explain_params,
    out_of_memory_above,
    pixels,
    run,
    settings,
    slot_for,
    work_items,
)


def ig_job(model: LoadedModel, steps: int = 8) -> Job:
    return explain_job(model, "integrated_gradients", steps=steps)


def heatmaps(results: list[object]) -> list[torch.Tensor]:
    return [r.maps[0].heatmap for r in results]  # type: ignore[attr-defined]


def test_a_batch_gives_each_image_its_result_alone(model: LoadedModel, loop) -> None:  # type: ignore[no-untyped-def]
    job = ig_job(model)
    inputs = explain_inputs(4)
    batched = run(slot_for(model), job, work_items(loop, inputs))
    alone = [
        run(slot_for(model), job, work_items(loop, [x])).results[0] for x in inputs
    ]
    assert batched.computed == 4
    for together, single in zip(heatmaps(batched.results), heatmaps(alone), strict=True):
        torch.testing.assert_close(together, single, rtol=1e-4, atol=1e-6)


def test_simulated_out_of_memory_shrinks_the_chunk_and_succeeds(model: LoadedModel, loop) -> None:  # type: ignore[no-untyped-def]
    job = ig_job(model, steps=8)
    inputs = explain_inputs(2)
    expected = heatmaps(run(slot_for(model), job, work_items(loop, inputs)).results)
    slot = slot_for(model)
    limited = settings(observers=[out_of_memory_above(3)])
    first = run(slot, job, work_items(loop, inputs), limited)
    assert first.oom_splits >= 1
    assert first.rows_per_pass is not None
    assert first.rows_per_pass <= 3  # what the batch ended with, after halving
    for got, want in zip(heatmaps(first.results), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    # The budget learnt the limit: the next batch fits without another failure.
    second = run(slot, job, work_items(loop, inputs), limited)
    assert second.oom_splits == 0
    assert second.rows_per_pass is not None
    assert second.rows_per_pass <= 3


def test_passes_hold_at_least_the_floor_of_rows_but_never_more_than_memory_allows(
    model: LoadedModel, loop  # type: ignore[no-untyped-def]
) -> None:
    job = ig_job(model, steps=32)
    inputs = explain_inputs(2)
    slow = settings()
    # A row measured at a whole slice: slices alone would make passes of one row.
    slow.times.set(model.key, torch.device("cpu"), slow.slice_seconds)
    sliced = run(slot_for(model), job, work_items(loop, inputs), slow)
    assert sliced.rows_per_pass == 1
    floored = dataclasses.replace(slow, min_pass_rows=16)
    outcome = run(slot_for(model), job, work_items(loop, inputs), floored)
    assert outcome.rows_per_pass == 16
    # 64 path points in passes of 16, not 64 passes of one.
    assert outcome.passes < sliced.passes / 8
    for got, want in zip(heatmaps(outcome.results), heatmaps(sliced.results), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    # Memory still caps a pass: the floor never asks for more rows than the budget holds.
    tight = slot_for(model)
    memory_rows = tight.memory.rows_per_pass(
        model.key, tight.model.classifier, (3, SIZE, SIZE), gradients=True
    )
    huge = dataclasses.replace(slow, min_pass_rows=memory_rows + 100)
    assert run(tight, job, work_items(loop, inputs), huge).rows_per_pass == memory_rows


def test_an_item_too_big_for_memory_fails_alone(model: LoadedModel, loop) -> None:  # type: ignore[no-untyped-def]
    spec = EXPLAINERS["vanilla_gradient"]
    params = explain_params("vanilla_gradient")
    # A method that cannot chunk its rows: each item's targets go through in one pass.
    job = Job(
        explain_job(model, "vanilla_gradient").key,
        lambda instance, items, _: explain(instance, spec, params, items),
        chunking="passes",
        rows=lambda item: item.rows,
    )
    inputs = [*explain_inputs(2), ExplainInput(pixels(1, seed=5)[0], (SIZE, SIZE), (), 4)]
    slot = slot_for(model)
    outcome = run(slot, job, work_items(loop, inputs), settings(observers=[out_of_memory_above(2)]))
    assert [type(r).__name__ for r in outcome.results[:2]] == ["ExplainOutput"] * 2
    assert isinstance(outcome.results[2], Overloaded)
    assert "does not fit" in str(outcome.results[2])


def test_an_item_that_raises_fails_alone(model: LoadedModel, loop) -> None:  # type: ignore[no-untyped-def]
    job = explain_job(model, "grad_cam")
    good = explain_inputs(2)
    bad = ExplainInput(pixels(1)[0], (SIZE, SIZE), (99,), 0)
    outcome = run(slot_for(model), job, work_items(loop, [good[0], bad, good[1]]))
    assert isinstance(outcome.results[1], InvalidRequest)
    assert outcome.computed == 2
    assert not outcome.rebuild
    assert all(hasattr(outcome.results[i], "maps") for i in (0, 2))


def test_an_unexpected_error_fails_its_item_and_asks_for_a_rebuilt_instance(
    model: LoadedModel,
    loop,  # type: ignore[no-untyped-def]
) -> None:
    job = explain_job(model, "vanilla_gradient")
    bad = ExplainInput(pixels(1)[0], (SIZE, SIZE), (99,), 0)  # gather() out of range
    outcome = run(slot_for(model), job, work_items(loop, [bad, *explain_inputs(1)]))
    assert isinstance(outcome.results[0], Exception)
    assert not isinstance(outcome.results[0], InvalidRequest)
    assert hasattr(outcome.results[1], "maps")
    assert outcome.rebuild


def test_dead_items_are_dropped_before_compute(model: LoadedModel, loop) -> None:  # type: ignore[no-untyped-def]
    inputs = explain_inputs(3)
    expired, cancelled, live = work_items(
        loop, inputs[:1], deadline=time.monotonic() - 1
    ) + work_items(loop, inputs[1:])
    cancelled.future.cancel()
    outcome = run(slot_for(model), ig_job(model), [expired, cancelled, live])
    assert isinstance(outcome.results[0], DeadlineExceeded)
    assert isinstance(outcome.results[1], Cancelled)
    assert hasattr(outcome.results[2], "maps")
    assert outcome.computed == 1
    assert outcome.dropped == {"deadline": 1, "cancelled": 1}


def test_the_batch_stops_between_passes_once_its_items_are_dead(model: LoadedModel, loop) -> None:  # type: ignore[no-untyped-def]
    slot = slot_for(model)
    # Probe the memory cost first: the hook below must count the batch's passes only.
    slot.memory.rows_per_pass("tiny", slot.model.classifier, (3, SIZE, SIZE))
    items = work_items(loop, explain_inputs(2), deadline=time.monotonic() + 3600)
    seen: list[int] = []

    def expire_after_two_passes(module: torch.nn.Module, args: object, output: object) -> None:
        if torch.is_grad_enabled():
            seen.append(1)
            if len(seen) == 2:
                for item in items:
                    item.deadline = time.monotonic() - 1

    # IG hooks no layer, so it runs on the replica with folded batch norms.
    handle = slot.instance.folded.classifier.register_forward_hook(expire_after_two_passes)
    # 64 steps, at most 4 rows a pass: 32 gradient passes if it ran to the end.
    slot.memory.out_of_memory("tiny", 8)
    try:
        outcome = run(slot, ig_job(model, steps=64), items)
    finally:
        handle.remove()
    assert all(isinstance(r, DeadlineExceeded) for r in outcome.results)
    assert outcome.passes == 2
    assert outcome.computed == 0
    assert outcome.dropped == {"deadline": 2}


METHOD_SETTINGS: dict[str, dict[str, ParamValue]] = {
    "smoothgrad": {"samples": 4},
    "smoothgrad_squared": {"samples": 4},
    "vargrad": {"samples": 4},
    "integrated_gradients": {"steps": 4},
    "class_model_visualization": {"steps": 3},
    "occlusion": {},
    "lime": {"samples": 8, "segmentation": "grid", "segments": 4},
    "kernel_shap": {"samples": 8, "segmentation": "grid", "segments": 4},
    "rise": {"masks": 4},
    "gradient_shap": {"samples": 2},
    "feature_ablation": {"segmentation": "grid", "segments": 4},
    "shapley_sampling": {"permutations": 1, "segmentation": "grid", "segments": 4},
}


@pytest.mark.parametrize("method", sorted(EXPLAINERS))
def test_channels_last_and_folding_give_the_same_explanations(
    model: LoadedModel, loop, method: str
) -> None:  # type: ignore[no-untyped-def]
    job = explain_job(model, method, **METHOD_SETTINGS.get(method, {}))
    inputs = explain_inputs(2)
    # The model as loaded (NCHW, batch norms unfolded) against the engine's own replicas.
    as_loaded = dataclasses.replace(job, foldable=False)
    plain = run(slot_for(model), as_loaded, work_items(loop, inputs)).results
    fast = run(
        slot_for(model, channels_last=True), job, work_items(loop, inputs)
    ).results
    for a, b in zip(plain, fast, strict=True):
        if isinstance(a, Exception):  # a method this model cannot serve fails the same way
            assert type(a) is type(b)
            continue
        torch.testing.assert_close(a.maps[0].heatmap, b.maps[0].heatmap, rtol=1e-3, atol=1e-5)


# Fewer iterations than the defaults: the tests compare two layouts, not attack strength.
ATTACK_SETTINGS: dict[str, dict[str, ParamValue]] = {
    "bim": {"steps": 3},
    "pgd": {"steps": 3},
    "pgd_l2": {"steps": 3},
    "mi_fgsm": {"steps": 3},
    "deepfool": {"steps": 5},
    "cw_l2": {"steps": 5},
    "minimal_epsilon": {"steps": 2, "max_eps": 16 / 255, "precision": 4 / 255},
    "simba": {"steps": 20},
}


@pytest.mark.parametrize("method", sorted(ATTACKS))
def test_channels_last_and_folding_give_the_same_attacks(
    model: LoadedModel, loop, method: str
) -> None:  # type: ignore[no-untyped-def]
    job = attack_job(model, method, **ATTACK_SETTINGS.get(method, {}))
    inputs = [AttackInput(p, None, None, None) for p in pixels(2)]
    as_loaded = dataclasses.replace(job, foldable=False)
    plain = run(slot_for(model), as_loaded, work_items(loop, inputs)).results
    fast = run(
        slot_for(model, channels_last=True), job, work_items(loop, inputs)
    ).results
    for a, b in zip(plain, fast, strict=True):
        assert not isinstance(a, Exception), a
        assert not isinstance(b, Exception), b
        # Sign steps can flip on float noise near zero gradients: compare the bulk.
        close = torch.isclose(a.adversarial, b.adversarial, atol=1e-4)
        assert close.float().mean() > 0.99


def test_bfloat16_autocast_keeps_grad_cam_maps(model: LoadedModel, loop) -> None:  # type: ignore[no-untyped-def]
    job = explain_job(model, "grad_cam")
    inputs = explain_inputs(4)
    full = run(slot_for(model), job, work_items(loop, inputs)).results
    half = run(
        slot_for(model), job, work_items(loop, inputs), settings(Precision(torch.bfloat16))
    ).results
    for a, b in zip(heatmaps(full), heatmaps(half), strict=True):
        correlation = torch.corrcoef(torch.stack([a.flatten(), b.float().flatten()]))[0, 1]
        assert correlation > 0.99
    assert all(r.maps[0].diagnostics["reduced_precision"] == 1.0 for r in half)
    assert all("reduced_precision" not in r.maps[0].diagnostics for r in full)


def test_a_request_chooses_float32_over_the_servers_autocast(model: LoadedModel, loop) -> None:  # type: ignore[no-untyped-def]
    inputs = explain_inputs(2)
    full = heatmaps(run(slot_for(model), ig_job(model), work_items(loop, inputs)).results)
    job = explain_job(model, "integrated_gradients", steps=8, autocast="off")
    asked = run(
        slot_for(model), job, work_items(loop, inputs), settings(Precision(torch.bfloat16))
    ).results
    for a, b in zip(full, heatmaps(asked), strict=True):
        assert torch.equal(a, b)
    assert all("reduced_precision" not in r.maps[0].diagnostics for r in asked)


def test_a_deterministic_job_gives_an_image_the_same_bits_in_any_batch(  # type: ignore[no-untyped-def]
    model: LoadedModel, loop
) -> None:
    job = explain_job(model, "integrated_gradients", steps=8, deterministic=True)
    inputs = explain_inputs(5, seed=3)
    together = heatmaps(run(slot_for(model), job, work_items(loop, inputs)).results)
    for i, single in enumerate(inputs):
        alone = heatmaps(run(slot_for(model), job, work_items(loop, [single])).results)[0]
        assert torch.equal(together[i], alone)


def test_black_box_passes_run_on_the_onnx_session_where_set(
    model: LoadedModel, loop
) -> None:  # type: ignore[no-untyped-def]
    job = explain_job(model, "rise", masks=8, cells=4)
    slot = slot_for(model)
    replicas = (slot.instance.plain, slot.instance.folded)
    sessions = [r.forward for r in replicas if r.forward is not None]
    assert sessions  # on a CPU the replicas' forward passes run on ONNX Runtime
    rows: list[int] = []
    handles = [s.register_forward_pre_hook(lambda _m, a: rows.append(len(a[0]))) for s in sessions]
    try:
        on_onnx = run(slot, job, work_items(loop, explain_inputs(1))).results
    finally:
        for handle in handles:
            handle.remove()
    assert sum(rows) >= 8  # every masked copy went through ONNX Runtime
    for replica in replicas:
        replica.forward = None
    on_torch = run(slot, job, work_items(loop, explain_inputs(1))).results
    torch.testing.assert_close(
        on_torch[0].maps[0].heatmap, on_onnx[0].maps[0].heatmap, rtol=1e-3, atol=1e-5
    )
