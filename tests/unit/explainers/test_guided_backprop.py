"""Guided backprop and deconvnet against Captum, on nets Captum handles and on torchvision's."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop
from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers._op_override import RELU_FUNCTIONS, Substitution
from saliency_service.explainers.base import Explanation
from saliency_service.explainers.gradients import vanilla_gradient
from saliency_service.explainers.guided_backprop import deconvnet, guided_backprop
from saliency_service.models.classifier import Classifier
from torch import Tensor, nn

from tests.unit.explainers.support import TOLERANCE, max_rel_diff, with_distinct_relus

PAIRS = [(guided_backprop, GuidedBackprop), (deconvnet, Deconvolution)]
IDS = ["guided_backprop", "deconvnet"]


@pytest.mark.parametrize(("ours", "oracle"), PAIRS, ids=IDS)
def test_matches_captum_on_distinct_relu_modules(
    tiny_cnn: Classifier,
    images: Tensor,
    targets: Tensor,
    ours: Callable[..., Explanation],
    oracle: type,
) -> None:
    result = ours(tiny_cnn, images, targets).attributions
    assert max_rel_diff(result, oracle(tiny_cnn).attribute(images, target=targets)) <= TOLERANCE


@pytest.mark.parametrize(("ours", "oracle"), PAIRS, ids=IDS)
def test_functional_relus_are_modified_too(
    functional_cnn: Classifier,
    tiny_cnn: Classifier,
    images: Tensor,
    targets: Tensor,
    ours: Callable[..., Explanation],
    oracle: type,
) -> None:
    # Same weights; Captum sees ReLU modules in tiny_cnn, we see F.relu/torch.relu/relu_.
    result = ours(functional_cnn, images, targets).attributions
    assert max_rel_diff(result, oracle(tiny_cnn).attribute(images, target=targets)) <= TOLERANCE


@pytest.mark.parametrize(("ours", "oracle"), PAIRS, ids=IDS)
def test_torchvision_resnet_matches_its_distinct_relu_twin(
    resnet: Classifier,
    images: Tensor,
    targets: Tensor,
    ours: Callable[..., Explanation],
    oracle: type,
) -> None:
    # torchvision's resnet18 runs one in-place ReLU module twice per block; the twin computes
    # the same function with a fresh non-inplace module per use, which Captum handles.
    result = ours(resnet, images, targets).attributions
    twin = with_distinct_relus(resnet)
    assert torch.equal(twin(images), resnet(images))
    assert max_rel_diff(result, oracle(twin).attribute(images, target=targets)) <= TOLERANCE



@pytest.mark.parametrize(("ours", "oracle"), PAIRS, ids=IDS)
def test_without_targets_the_modified_pass_still_predicts_the_models_class(
    tiny_cnn: Classifier,
    images: Tensor,
    ours: Callable[..., Explanation],
    oracle: type,
) -> None:
    # The rule changes the backward pass only: the class comes from the model's own logits.
    with torch.no_grad():
        logits = tiny_cnn(images)
    result = ours(tiny_cnn, images, None)
    assert result.logits is not None
    assert torch.equal(result.logits, logits)
    expected = oracle(tiny_cnn).attribute(images, target=logits.argmax(dim=1))
    assert max_rel_diff(result.attributions, expected) <= TOLERANCE

def test_the_rule_is_really_applied_on_resnet(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    guided = guided_backprop(resnet, images, targets).attributions
    plain = vanilla_gradient(resnet, images, targets).attributions
    assert guided is not None
    assert plain is not None
    assert max_rel_diff(guided, plain) > 0.5


@pytest.mark.parametrize("method", [guided_backprop, deconvnet], ids=IDS)
def test_a_model_without_relu_is_unsupported(
    images: Tensor, targets: Tensor, method: Callable[..., Explanation]
) -> None:
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    with pytest.raises(UnsupportedMethod, match="no ReLU"):
        method(linear, images, targets)


class _Exploding(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        torch.relu(x)
        raise RuntimeError("boom")


def test_substitution_ends_when_the_model_raises(images: Tensor, targets: Tensor) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        guided_backprop(_Exploding(), images, targets)
    assert torch._C._len_torch_function_stack() == 0
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    (gradient,) = torch.autograd.grad(torch.relu(x).sum() * -1, x)
    assert gradient.tolist() == [0.0, -1.0]  # the plain ReLU gradient, negative values and all


def test_substitution_is_invisible_to_other_threads() -> None:
    # Requests on one shared model run on several threads; a substitution must stay on its own.
    entered, release = threading.Event(), threading.Event()
    seen: list[float] = []

    def substituted() -> None:
        with Substitution(dict.fromkeys(RELU_FUNCTIONS, lambda input, inplace=False: input + 5)):
            seen.append(float(torch.relu(torch.tensor(-1.0))))
            entered.set()
            release.wait(timeout=10)

    worker = threading.Thread(target=substituted)
    worker.start()
    assert entered.wait(timeout=10)
    here = float(torch.relu(torch.tensor(-1.0)))
    release.set()
    worker.join()
    assert seen == [4.0]
    assert here == 0.0
