"""LIME, KernelSHAP, feature ablation, Shapley sampling, RISE and GradientSHAP against Captum
(same segments; same samples where the sampling can be matched, else the seed-to-seed spread
of Captum's own estimate as the yardstick), the Shapley axioms, and a NumPy RISE formula."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import FeatureAblation, GradientShap, KernelShap, Lime, ShapleyValueSampling
from saliency_service.explainers.feature_ablation import feature_ablation
from saliency_service.explainers.gradient_shap import gradient_shap
from saliency_service.explainers.kernel_shap import kernel_shap
from saliency_service.explainers.lime import lime
from saliency_service.explainers.rise import draws, masks_of, rise
from saliency_service.explainers.shapley_sampling import shapley_sampling
from saliency_service.models.classifier import Classifier
from torch import Tensor

from tests.unit.explainers.support import max_rel_diff

SIZE = 32


def _grid(side: int) -> np.ndarray:
    cells = np.arange(SIZE) * side // SIZE
    return cells[:, None] * side + cells[None, :]


def _per_segment(heatmap: Tensor, mask: np.ndarray) -> Tensor:
    """The value painted over each segment of `mask` (one image)."""
    flat = heatmap.reshape(-1)
    index = torch.from_numpy(mask.reshape(-1))
    return torch.stack([flat[index == k][0] for k in range(int(mask.max()) + 1)]).double()


def _scores(model: Classifier, batch: Tensor, target: int) -> Tensor:
    with torch.no_grad():
        return model(batch)[:, target].double()


def _exact_shapley(model: Classifier, image: Tensor, mask: np.ndarray, target: int) -> Tensor:
    """Shapley values from their definition: every coalition, weighted |S|!(K−|S|−1)!/K!."""
    k = int(mask.max()) + 1
    subsets = torch.tensor(list(itertools.product((0.0, 1.0), repeat=k)))
    keep = subsets[:, torch.from_numpy(mask)]  # (2^K, H, W)
    values = _scores(model, image * keep[:, None], target)
    lookup = {
        tuple(int(v) for v in s.tolist()): float(v) for s, v in zip(subsets, values, strict=True)
    }
    phi = torch.zeros(k, dtype=torch.float64)
    for s in lookup:
        for i in (j for j in range(k) if not s[j]):
            size = sum(s)
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            phi[i] += weight * (lookup[s[:i] + (1,) + s[i + 1 :]] - lookup[s])
    return phi


@pytest.fixture(scope="module")
def image(images: Tensor) -> Tensor:
    return images[:1]


def test_lime_matches_captum_with_the_same_samples(tiny_cnn: Classifier, image: Tensor) -> None:
    mask, samples, width, target = _grid(3), 60, 0.25, 3
    ours = lime(tiny_cnn, image, torch.tensor([target]), samples=samples, kernel_width=width,
                segmentation="given", feature_mask=mask, seed=7)  # fmt: skip
    drawn = torch.rand(samples, 9, generator=torch.Generator().manual_seed(7)) < 0.5
    drawn[0] = True

    def perturb(_inputs: Tensor, **_kwargs: object):  # type: ignore[no-untyped-def]
        for row in drawn:
            yield row[None].float()

    def similarity(_x: Tensor, _perturbed: Tensor, z: Tensor, **_kwargs: object) -> Tensor:
        cosine = torch.nn.functional.cosine_similarity(z.float(), torch.ones_like(z.float()))
        return torch.exp(-((1 - cosine) ** 2) / (2 * width**2))

    expected = Lime(tiny_cnn, SkLearnRidge(alpha=1.0), similarity, perturb).attribute(
        image, target=target, n_samples=samples, feature_mask=torch.from_numpy(mask)[None, None]
    )
    ours_values = _per_segment(ours.heatmap[0], mask)
    assert max_rel_diff(ours_values, _per_segment(expected[0, 0], mask)) <= 1e-4


def test_kernel_shap_enumerated_is_the_exact_shapley_value(
    tiny_cnn: Classifier, image: Tensor
) -> None:
    mask, target = _grid(2), 5
    ours = kernel_shap(tiny_cnn, image, torch.tensor([target]), samples=14,
                       segmentation="given", feature_mask=mask)  # fmt: skip
    assert float(ours.diagnostics["enumerated"][0]) == 1.0
    exact = _exact_shapley(tiny_cnn, image, mask, target)
    assert max_rel_diff(_per_segment(ours.heatmap[0], mask), exact) <= 1e-4


def test_kernel_shap_sampled_is_efficient_and_as_close_as_captums(
    tiny_cnn: Classifier, image: Tensor
) -> None:
    mask, target, samples = _grid(3), 2, 120
    exact = _exact_shapley(tiny_cnn, image, mask, target)
    full = float(_scores(tiny_cnn, image, target)[0])
    empty = float(_scores(tiny_cnn, torch.zeros_like(image), target)[0])
    errors, captum_errors = [], []
    for seed in range(3):
        ours = kernel_shap(tiny_cnn, image, torch.tensor([target]), samples=samples,
                           segmentation="given", feature_mask=mask, seed=seed)  # fmt: skip
        values = _per_segment(ours.heatmap[0], mask)
        assert float(values.sum()) == pytest.approx(full - empty, rel=1e-4, abs=1e-6)
        errors.append(float((values - exact).norm()))
        torch.manual_seed(seed)
        theirs = KernelShap(tiny_cnn).attribute(
            image, target=target, n_samples=samples, perturbations_per_eval=samples,
            feature_mask=torch.from_numpy(mask)[None, None],
        )  # fmt: skip
        captum_errors.append(float((_per_segment(theirs[0, 0], mask) - exact).norm()))
    assert np.mean(errors) <= 1.5 * np.mean(captum_errors) + 1e-6


def test_feature_ablation_matches_captum(tiny_cnn: Classifier, image: Tensor) -> None:
    mask, target = _grid(4), 1
    ours = feature_ablation(tiny_cnn, image, torch.tensor([target]), segmentation="given",
                            feature_mask=mask)  # fmt: skip
    expected = FeatureAblation(tiny_cnn).attribute(
        image, target=target, feature_mask=torch.from_numpy(mask)[None, None]
    )
    assert max_rel_diff(ours.heatmap[0], expected[0, 0]) <= 1e-4


def test_shapley_sampling_is_efficient_and_as_close_as_captums(
    tiny_cnn: Classifier, image: Tensor
) -> None:
    mask, target, orders = _grid(3), 6, 12
    exact = _exact_shapley(tiny_cnn, image, mask, target)
    errors, captum_errors = [], []
    for seed in range(3):
        ours = shapley_sampling(tiny_cnn, image, torch.tensor([target]), permutations=orders,
                                segmentation="given", feature_mask=mask, seed=seed)  # fmt: skip
        values = _per_segment(ours.heatmap[0], mask)
        delta = float(ours.diagnostics["score_delta"][0])
        assert float(values.sum()) == pytest.approx(delta, rel=1e-4, abs=1e-6)
        errors.append(float((values - exact).norm()))
        torch.manual_seed(seed)
        theirs = ShapleyValueSampling(tiny_cnn).attribute(
            image, target=target, n_samples=orders, perturbations_per_eval=36,
            feature_mask=torch.from_numpy(mask)[None, None],
        )  # fmt: skip
        captum_errors.append(float((_per_segment(theirs[0, 0], mask) - exact).norm()))
    assert np.mean(errors) <= 1.5 * np.mean(captum_errors) + 1e-6


def test_rise_is_the_masks_weighted_by_their_scores(tiny_cnn: Classifier, images: Tensor) -> None:
    masks, cells, p = 24, 4, 0.5
    targets = torch.tensor([0, 3])
    ours = rise(tiny_cnn, images[:2], targets, masks=masks, cells=cells, probability=p,
                seed=3, score="probability", chunk_size=10)  # fmt: skip
    grids, shifts = draws(masks, cells, p, 3)
    m = masks_of(grids, shifts, SIZE, SIZE).numpy().astype(np.float64)
    assert m.min() >= 0.0 and m.max() <= 1.0 + 1e-6  # bilinear: convex weights of 0s and 1s
    for i, target in enumerate(targets.tolist()):
        with torch.no_grad():
            probs = tiny_cnn(images[i] * torch.from_numpy(m).float()[:, None]).softmax(1)
        scores = probs[:, target].double().numpy()
        expected = np.tensordot(scores, m, axes=1) / (masks * p)  # eq. 6
        assert max_rel_diff(ours.heatmap[i].double(), torch.from_numpy(expected)) <= 1e-4


def test_gradient_shap_matches_captum_with_the_same_draws(
    tiny_cnn: Classifier, image: Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples, target = 8, 4
    ours = gradient_shap(tiny_cnn, image, torch.tensor([target]), samples=samples,
                         baseline="black", seed=2)  # fmt: skip
    alphas = torch.rand(samples, generator=torch.Generator().manual_seed(2))
    # Captum draws its path points with NumPy: hand it ours (the one random input it takes).
    monkeypatch.setattr(np.random, "uniform", lambda *_a, **_k: alphas.double().numpy())
    expected = GradientShap(tiny_cnn).attribute(
        image, baselines=torch.zeros_like(image), n_samples=samples, stdevs=0.0, target=target
    )
    assert max_rel_diff(ours.attributions, expected) <= 1e-4
