"""Randomisation, robustness, localisation and complexity metrics against Quantus, like with like.

Quantus's random draws are replaced by ours (the noise of max-sensitivity and the local
Lipschitz estimate; the randomised layers of the parameter randomisation test), so both compute
the same quantity from the same samples. Our re-initialisation is checked against PyTorch's own
`reset_parameters`, which Quantus calls.
"""

from __future__ import annotations

import copy
import gc
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import quantus
import torch
from quantus.functions.similarity_func import correlation_spearman
from quantus.helpers.model.pytorch_model import PyTorchModel
from saliency_service.assessment import METRICS
from saliency_service.assessment.base import ExplainedMetric, MapMetric, MaskMetric
from saliency_service.assessment.randomisation import (
    cascade,
    off_classes,
    parameter_layers,
    random_logit,
    reinitialise,
)
from saliency_service.assessment.robustness import gaussian_noise, uniform_noise
from saliency_service.assessment.running import explained_metric, randomised_maps
from saliency_service.assessment.similarity import hog_features
from saliency_service.params import resolve_params
from skimage.feature import hog
from torch import nn

from tests.unit.assessment.conftest import CLASSES, gradient_maps
from tests.unit.assessment.oracle import TOLERANCE, explainer, max_rel_diff, replay, run


def params_of(name: str, **given: Any) -> dict[str, Any]:
    return resolve_params(name, METRICS[name].params, given)


def test_randomisation_reinitialises_as_pytorch_does() -> None:
    for module in (nn.Conv2d(3, 4, 3), nn.Linear(5, 2), nn.Conv2d(2, 2, 1, bias=False),
                   nn.BatchNorm2d(3)):
        expected = copy.deepcopy(module)
        torch.manual_seed(11)
        expected.reset_parameters()
        with torch.no_grad():
            for tensor in module.parameters():
                tensor.add_(1.0)
        reinitialise(module, torch.Generator().manual_seed(11))
        for (name, got), want in zip(module.state_dict().items(),
                                     expected.state_dict().values(), strict=True):
            assert torch.equal(got, want), name


def test_cascading_randomisation_matches_quantus_mprt(model, images, targets, monkeypatch) -> None:
    params = params_of("model_randomisation", seed=5)
    names_quantus = [name for name, _ in PyTorchModel(model).get_random_layer_generator()]
    assert [name.removeprefix("network.") for name in names_quantus] == [
        name for name, _ in parameter_layers(model.network)]

    def ours_randomised(self: PyTorchModel, order: str = "top_down",
                        seed: int = 42) -> Iterator[tuple[str, nn.Module]]:
        randomised = copy.deepcopy(self.model)
        for name in cascade(randomised.network, 5, 0):
            yield name, randomised

    monkeypatch.setattr(PyTorchModel, "get_random_layer_generator", ours_randomised)
    expected = run(quantus.MPRT(similarity_func=correlation_spearman, disable_warnings=True),
                   model, images, targets, explain_func=explainer(gradient_maps),
                   a_batch=None)
    original, maps, names = randomised_maps(model, lambda m: m.network, gradient_maps, images,
                                            targets, 5, 0)
    result = METRICS["model_randomisation"].summarise(original, maps, names, params)  # type: ignore[attr-defined]
    layers = [k for k in expected if k != "original"]
    assert names == layers
    assert max_rel_diff(result.curves, np.array([expected[k] for k in layers]).T) <= TOLERANCE
    assert torch.allclose(result.values, result.curves.nanmean(dim=1))
    assert np.allclose(expected["original"], 1.0)


def test_randomisation_leaves_the_model_alone_and_drops_its_copy(model, images,
                                                                  targets) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen: list[weakref.ref[nn.Module]] = []

    def explain(randomised: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert randomised is not model
        seen.append(weakref.ref(randomised))
        return gradient_maps(randomised, x, t)

    _, maps, names = randomised_maps(model, lambda m: m.network, explain, images, targets, 0, 2)
    assert len(names) == 2 and names[-1] == parameter_layers(model.network)[-1][0]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert len(seen) == 3  # the original maps, then two checkpoints, all of one private copy
    gc.collect()
    assert all(ref() is None for ref in seen)


def test_random_logit_matches_quantus_on_the_same_classes(model, images, targets) -> None:
    recorded: list[np.ndarray] = []
    expected = run(quantus.RandomLogit(num_classes=CLASSES, similarity_func=correlation_spearman,
                                       disable_warnings=True),
                   model, images, targets, explain_func=explainer(gradient_maps, recorded),
                   a_batch=None)
    off = torch.as_tensor(recorded[-1])
    assert torch.all(off != targets)
    maps = gradient_maps(model, images, off)[:, None]
    heatmaps = gradient_maps(model, images, targets)
    ours = random_logit(images, heatmaps, maps, targets, params_of("random_logit",
                                                                    similarity="spearman"))
    assert max_rel_diff(ours.values, np.array(expected)) <= TOLERANCE


def test_off_classes_are_uniform_over_the_other_classes() -> None:
    targets = torch.tensor([0, 2, 4, 4])
    drawn = torch.stack([off_classes(targets, CLASSES, seed) for seed in range(400)])
    assert torch.all(drawn != targets)
    for column, target in enumerate(targets.tolist()):
        counts = torch.bincount(drawn[:, column], minlength=CLASSES).tolist()
        assert counts[target] == 0
        assert all(60 <= c <= 140 for i, c in enumerate(counts) if i != target)


@pytest.mark.parametrize("name", ["max_sensitivity", "local_lipschitz"])
def test_robustness_matches_quantus(model, images, targets, maps, name) -> None:
    params = params_of(name, samples=5, seed=2)
    spec = METRICS[name]
    assert isinstance(spec, ExplainedMetric)
    ours = explained_metric(spec, lambda x, t: gradient_maps(model, x, t), images, maps,
                            targets, CLASSES, params)
    noise = uniform_noise if name == "max_sensitivity" else gaussian_noise
    draws = [noise(images.shape[1:], params, k) for k in range(5)]
    metric = (quantus.MaxSensitivity if name == "max_sensitivity" else
              quantus.LocalLipschitzEstimate)
    expected = run(metric(nr_samples=5, perturb_func=replay(draws), normalise=False,
                          disable_warnings=True),
                   model, images, targets, a_batch=maps[:, None].numpy(),
                   explain_func=explainer(gradient_maps))
    assert max_rel_diff(ours.values, np.array(expected)) <= TOLERANCE


LOCALISATION = {
    "pointing_game": lambda: quantus.PointingGame(disable_warnings=True),
    "relevance_mass": lambda: quantus.RelevanceMassAccuracy(disable_warnings=True),
    "relevance_rank": lambda: quantus.RelevanceRankAccuracy(disable_warnings=True),
    "energy_pointing_game": lambda: quantus.AttributionLocalisation(
        positive_attributions=True, abs=False, disable_warnings=True),
}


@pytest.mark.parametrize("name", sorted(LOCALISATION))
def test_localisation_matches_quantus(model, images, targets, masks, name) -> None:
    # Signed maps, so that relevance mass and the energy game differ.
    signed = gradient_maps(model, images, targets) - 0.3 * gradient_maps(model, images,
                                                                          targets).mean()
    spec = METRICS[name]
    assert isinstance(spec, MaskMetric)
    ours = spec.score(signed, masks, {}).values
    expected = np.array(run(LOCALISATION[name](), model, images, targets,
                            a_batch=signed[:, None].numpy(), s_batch=masks[:, None].numpy()),
                        dtype=np.float64)
    assert torch.isnan(ours[3])  # the empty mask
    assert max_rel_diff(ours[:3], expected[:3]) <= TOLERANCE


@pytest.mark.parametrize(("name", "metric"), [("sparseness", quantus.Sparseness),
                                              ("entropy", quantus.Complexity)])
def test_complexity_matches_quantus(model, images, targets, maps, name, metric) -> None:
    spec = METRICS[name]
    assert isinstance(spec, MapMetric)
    expected = run(metric(disable_warnings=True), model, images, targets,
                   a_batch=maps[:, None].numpy())
    assert max_rel_diff(spec.score(maps, {}).values, np.array(expected)) <= TOLERANCE


def test_complexity_extremes() -> None:
    flat = torch.ones(1, 8, 8)
    peak = torch.zeros(1, 8, 8)
    peak[0, 3, 3] = 2.0
    sparseness, entropy = METRICS["sparseness"], METRICS["entropy"]
    assert isinstance(sparseness, MapMetric) and isinstance(entropy, MapMetric)
    assert sparseness.score(flat, {}).values.tolist() == [0.0]
    assert sparseness.score(peak, {}).values.tolist() == pytest.approx([63 / 64])
    assert entropy.score(flat, {}).values.tolist() == pytest.approx([np.log(64)])
    assert entropy.score(peak, {}).values.tolist() == [0.0]


def test_hog_features_match_scikit_image() -> None:
    maps = torch.rand(3, 40, 53, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    maps[1] = (maps[1] * 4).floor()  # flat regions and exact orientation boundaries
    ours = hog_features(maps)
    for i in range(3):
        scaled = (maps[i] - maps[i].min()) / (maps[i].max() - maps[i].min())
        expected = hog(scaled.numpy(), orientations=9, pixels_per_cell=(8, 8),
                       cells_per_block=(3, 3), block_norm="L2-Hys")
        assert max_rel_diff(ours[i], expected) <= TOLERANCE

