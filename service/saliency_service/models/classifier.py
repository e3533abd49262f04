"""The model as every explainer and attack sees it: pixels in [0, 1] in, logits out."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class Classifier(nn.Module):
    """Wraps a network so that normalisation happens inside the differentiated function.

    Gradients, ε-balls and baselines are then all in pixel space [0, 1], whatever mean and std
    the network was trained with, so ε = 8/255 means the same for every model.

    Shape:
        input: (N, C, H, W) in [0, 1]; output: (N, num_classes) logits.
    """

    def __init__(self, network: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: Tensor) -> Tensor:
        return self.network((images - self.mean) / self.std)

    def layer(self, name: str) -> nn.Module:
        """The network's sub-module called `name` (as `named_modules` spells it).

        Raises:
            KeyError: no such module.
        """
        return self.network.get_submodule(name)
