"""Folding batch norms into convolutions: the same function, fewer layers, nothing else touched."""

from __future__ import annotations

import copy

import torch
from saliency_service.engine.folding import fold_batch_norms
from torch import Tensor, nn
from torchvision.models import resnet18


def trained_like(model: nn.Module) -> nn.Module:
    """Give every batch norm non-trivial statistics and affine parameters, then eval mode."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=generator) * 0.1)
    return model.eval()


def test_a_resnet_folds_every_batch_norm_and_keeps_its_function() -> None:
    torch.manual_seed(0)
    model = trained_like(resnet18(num_classes=10))
    folded = copy.deepcopy(model)
    assert fold_batch_norms(folded) == 20  # each conv of resnet18 has its own batch norm
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(folded(images), model(images), rtol=1e-4, atol=1e-4)
    # Module names survive, so a layer named in a request still resolves.
    assert {name for name, _ in folded.named_modules()} == {
        name for name, _ in model.named_modules()
    }


class SharedConv(nn.Module):
    """One convolution called twice, each time through the same batch norm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(self.norm(self.conv(x))))


def test_shared_modules_are_left_alone() -> None:
    torch.manual_seed(0)
    model = trained_like(SharedConv())
    before = copy.deepcopy(model)
    assert fold_batch_norms(model) == 0
    images = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(images), before(images))


class DataDependent(nn.Module):
    """Control flow on tensor values: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm(self.conv(x))
        return y if y.sum() > 0 else -y


def test_a_model_that_cannot_be_traced_is_unchanged() -> None:
    torch.manual_seed(0)
    model = trained_like(DataDependent())
    assert fold_batch_norms(model) == 0
    assert isinstance(model.norm, nn.BatchNorm2d)
