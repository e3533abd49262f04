"""Substitute torch functions for the length of a forward pass, whatever calls them.

Guided backprop, deconvnet and DeepLIFT change how gradients cross ReLUs (and max-pools).
Module hooks cannot do that reliably: they never see `F.relu`, `torch.relu` or `Tensor.relu`,
and a hook that keeps per-module state (DeepLIFT's input and output) is confused by a ReLU
module run twice per forward pass, in place (torchvision's BasicBlock reuses `self.relu`), which
is why Captum's DeepLift refuses torchvision ResNets (captum#199).
A `TorchFunctionMode` sees every call of the functions themselves instead, installs nothing on
the model, lives only on the calling thread's mode stack (so concurrent requests on the same
model do not see it), and is popped by its `with` block whatever happens.

Substitutes run the replaced function out of place: code that relies on a ReLU's in-place side
effect rather than on its return value would not see the change (torchvision uses the
returned value throughout). TorchScript graphs do not call back into Python, so substitution
cannot reach them; `calls` tells the caller whether any substitution happened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# Every spelling of ReLU that reaches __torch_function__: nn.ReLU calls F.relu; F.relu_ is
# torch.relu_; graphs from torch.export call the aten overloads.
RELU_FUNCTIONS: tuple[Callable[..., Any], ...] = (
    torch.relu,
    torch.relu_,
    F.relu,
    torch.Tensor.relu,
    torch.Tensor.relu_,
    torch.ops.aten.relu.default,
    torch.ops.aten.relu_.default,
)


class Substitution(TorchFunctionMode):
    """While active, a call of any key of `replacements` runs its value instead.

    Args:
        replacements: replaced function → substitute taking the same arguments; a substitute
            returns `NotImplemented` to leave a call to the replaced function.

    Attributes:
        calls: how many calls were substituted so far.
    """

    def __init__(self, replacements: Mapping[Callable[..., Any], Callable[..., Any]]) -> None:
        super().__init__()
        self.replacements = dict(replacements)
        self.calls = 0

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: object,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        # The mode is off inside this method, so neither branch re-enters it.
        kwargs = kwargs or {}
        substitute = self.replacements.get(func)
        if substitute is not None:
            result = substitute(*args, **kwargs)
            if result is not NotImplemented:
                self.calls += 1
                return result
        return func(*args, **kwargs)
