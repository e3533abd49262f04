"""Test-only models and the one tolerance measure the explainer tests compare with."""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F
from saliency_service.models.classifier import Classifier
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

TOLERANCE = 1e-4
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def max_rel_diff(actual: Tensor | None, expected: Tensor) -> float:
    """max|actual − expected| / max|expected|: the parity measure of every oracle test."""
    assert actual is not None
    assert actual.shape == expected.shape, f"{tuple(actual.shape)} vs {tuple(expected.shape)}"
    actual, expected = actual.detach(), expected.detach()
    return float((actual - expected).abs().max() / expected.abs().max())


def small_cnn(*, relu: bool = True, max_pool: bool = True) -> nn.Sequential:
    """A net Captum's module hooks handle: one non-inplace module per ReLU use.

    Captum's DeepLift is exact with ReLUs or with 2×2 max-pools, but not with both in one net
    (its summation-to-delta gap reaches 10 % there), so its oracle tests drop one or the other.

    Shape:
        input: (N, 3, 32, 32); output: (N, 10).
    """

    def activation() -> list[nn.Module]:
        return [nn.ReLU()] if relu else []

    def pool() -> nn.Module:
        return nn.MaxPool2d(2) if max_pool else nn.AvgPool2d(2)

    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        *activation(),
        pool(),
        nn.Conv2d(6, 8, 3, padding=1),
        *activation(),
        pool(),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 16),
        *activation(),
        nn.Linear(16, 10),
    )


class Functional(nn.Module):
    """A Sequential's function with its ReLU and max-pool modules called as functions.

    ReLUs cycle through `F.relu`, `torch.relu` and in-place `Tensor.relu_`, spellings that
    module hooks never see.
    """

    def __init__(self, layers: nn.Module) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, x: Tensor) -> Tensor:
        spellings = itertools.cycle([F.relu, torch.relu, Tensor.relu_])
        for layer in self.layers.children():
            if isinstance(layer, nn.ReLU):
                x = next(spellings)(x)
            elif isinstance(layer, nn.MaxPool2d):
                x = F.max_pool2d(x, 2)
            else:
                x = layer(x)
        return x


class _DistinctReluBlock(nn.Module):
    """torchvision's BasicBlock with a fresh non-inplace ReLU module for each of its two uses."""

    def __init__(self, block: BasicBlock) -> None:
        super().__init__()
        self.conv1, self.bn1, self.conv2, self.bn2 = block.conv1, block.bn1, block.conv2, block.bn2
        self.downsample = block.downsample
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        result: Tensor = self.relu2(self.bn2(self.conv2(out)) + identity)
        return result


def with_distinct_relus(model: Classifier) -> Classifier:
    """A copy of a resnet18 Classifier with one non-inplace ReLU module per ReLU call.

    torchvision runs `block.relu` twice per block, in place; the copy computes the same function
    but gives hook-based libraries one module per call (Captum's DeepLift refuses the original,
    captum#199).
    """
    twin = copy.deepcopy(model)
    network = twin.network
    network.relu = nn.ReLU()
    for name in ("layer1", "layer2", "layer3", "layer4"):
        layer = getattr(network, name)
        for index, block in enumerate(layer):
            layer[index] = _DistinctReluBlock(block)
    return twin
