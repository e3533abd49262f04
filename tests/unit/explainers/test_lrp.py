"""LRP against zennit (independent oracle) on torchvision networks with random weights, the
conservation axiom, and the refusals.

Like with like: zennit runs on the bare network with the normalised image and the one-hot
output relevance scaled by the logit (our convention, lrp.py); the service's relevance is the
first layer's input relevance, which is what zennit returns for the normalised input.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers.lrp import lrp
from saliency_service.models.classifier import Classifier
from torch import Tensor, nn
from torchvision.models import densenet121, resnet18, resnet50, vgg16
from zennit.attribution import Gradient
from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat
from zennit.core import Composite
from zennit.torchvision import ResNetCanonizer, VGGCanonizer

from tests.unit.explainers.support import IMAGENET_MEAN, IMAGENET_STD, max_rel_diff

PARITY = 1e-4
SIZE = 32


def _mean_std() -> tuple[Tensor, Tensor]:
    return torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def _zennit(network: nn.Module, images: Tensor, targets: Tensor, composite: Composite) -> Tensor:
    mean, std = _mean_std()
    normalised = (images - mean) / std
    with Gradient(network, composite) as attributor:
        logits = network(normalised).detach()
        relevance_out = torch.zeros_like(logits).scatter(
            1, targets[:, None], logits.gather(1, targets[:, None])
        )
        _, relevance = attributor(normalised, relevance_out)
    return relevance.detach()


def _composite(name: str, canonizer: object, images: Tensor) -> Composite:
    mean, std = _mean_std()
    if name == "epsilon_plus_flat":
        return EpsilonPlusFlat(canonizers=[canonizer])
    low = (torch.zeros_like(images) - mean) / std
    high = (torch.ones_like(images) - mean) / std
    return EpsilonGammaBox(low=low, high=high, canonizers=[canonizer])


def _randomise_batch_norms(network: nn.Module) -> nn.Module:
    """Random batch-norm statistics, and ε = 0 so both sides merge the same layers: zennit's
    merge keeps each batch norm's ε in the network it explains (the merged layer is followed by
    x / √(1 + ε)), ours merges exactly; with ε = 1e-5 that shifts every merged layer by 5e-6 and,
    through resnet50's 53 batch norms, moved the maps by 2e-4 and 1.2e-3 of their largest value
    on two random draws."""
    generator = torch.Generator().manual_seed(5)
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 0.0
            size = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
            module.weight.data.copy_(0.5 + torch.rand(size, generator=generator))
            module.bias.data.copy_(0.1 * torch.randn(size, generator=generator))
    return network.eval()


def _narrow_vgg16() -> nn.Module:
    """vgg16 as torchvision builds it, its dense head narrowed (4096 → 64 units) so the test
    stays fast: the rules go by layer type, so the width changes nothing that is compared."""
    network = vgg16(weights=None, num_classes=10)
    network.classifier = nn.Sequential(
        nn.Linear(512 * 7 * 7, 64), nn.ReLU(True), nn.Dropout(),
        nn.Linear(64, 64), nn.ReLU(True), nn.Dropout(), nn.Linear(64, 10),
    )  # fmt: skip
    return network.eval()


@pytest.fixture(scope="module")
def networks() -> dict[str, tuple[nn.Module, type]]:
    torch.manual_seed(0)
    return {
        "vgg16": (_narrow_vgg16(), VGGCanonizer),
        "resnet18": (
            _randomise_batch_norms(resnet18(weights=None, num_classes=10)),
            ResNetCanonizer,
        ),
        # Bottleneck blocks: three merged convolutions and a projection on the skip path.
        "resnet50": (
            _randomise_batch_norms(resnet50(weights=None, num_classes=10)),
            ResNetCanonizer,
        ),
    }


@pytest.mark.parametrize("composite", ["epsilon_plus_flat", "epsilon_gamma_box"])
@pytest.mark.parametrize("name", ["vgg16", "resnet18", "resnet50"])
def test_matches_zennit(
    networks: dict[str, tuple[nn.Module, type]], name: str, composite: str
) -> None:
    network, canonizer = networks[name]
    images = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([4])
    ours = lrp(Classifier(network, IMAGENET_MEAN, IMAGENET_STD).eval(), images, targets,
               composite=composite)  # fmt: skip
    expected = _zennit(network, images, targets, _composite(composite, canonizer(), images))
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, expected) <= PARITY
    assert torch.isfinite(ours.diagnostics["conservation_gap"]).all()


def _without_biases(network: nn.Module) -> nn.Module:
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.zero_()
            module.bias.data.zero_()
        elif isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
            module.bias.data.zero_()
    return network


@pytest.mark.parametrize("architecture", [resnet18, densenet121])
def test_conserves_relevance_without_biases(architecture: Callable[..., nn.Module]) -> None:
    """densenet121 too, which zennit has no canonizer for: its batch norms follow
    concatenations, so they pass relevance on; without biases nothing may be lost."""
    torch.manual_seed(1)
    network = _without_biases(_randomise_batch_norms(architecture(weights=None, num_classes=10)))
    model = Classifier(network, IMAGENET_MEAN, IMAGENET_STD).eval()
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    logits = model(images)
    targets = logits.argmax(dim=1)  # positive enough logits: the relative gap is meaningful
    result = lrp(model, images, targets, composite="epsilon_plus_flat")
    assert result.attributions is not None
    assert (result.diagnostics["relative_conservation_gap"] <= 1e-4).all()
    picked = logits.gather(1, targets[:, None])[:, 0].detach()
    total = result.attributions.sum(dim=(1, 2, 3))
    assert torch.allclose(total, picked, rtol=1e-4, atol=1e-6)


def test_reports_the_gap_when_biases_absorb_relevance(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    result = lrp(resnet, images[:1], targets[:1])
    assert result.attributions is not None
    logits = resnet(images[:1]).gather(1, targets[:1, None])[:, 0].detach()
    gap = result.attributions.sum(dim=(1, 2, 3)) - logits
    assert torch.allclose(result.diagnostics["conservation_gap"], gap, atol=1e-5)


class _Swish(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(x)


def test_refuses_a_layer_without_a_rule() -> None:
    network = nn.Sequential(nn.Conv2d(3, 4, 3), _Swish(), nn.Flatten(), nn.LazyLinear(2))
    network(torch.rand(1, 3, 8, 8))
    model = Classifier(network, IMAGENET_MEAN, IMAGENET_STD).eval()
    with pytest.raises(UnsupportedMethod, match="no rule"):
        lrp(model, torch.rand(1, 3, 8, 8), torch.tensor([0]))


def test_refuses_a_function_without_a_rule() -> None:
    class Tanh(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4 * 6 * 6, 2)

        def forward(self, x: Tensor) -> Tensor:
            return self.fc(torch.tanh(self.conv(x)).flatten(1))

    model = Classifier(Tanh(), IMAGENET_MEAN, IMAGENET_STD).eval()
    with pytest.raises(UnsupportedMethod, match="tanh"):
        lrp(model, torch.rand(1, 3, 8, 8), torch.tensor([0]))
