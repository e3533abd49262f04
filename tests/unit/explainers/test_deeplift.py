"""DeepLIFT: summation-to-delta, a layer-by-layer oracle, Captum parity, and its refusals.

The oracle (`_multipliers`) is written here from the paper's definitions, module by module, with
none of the service's code: affine layers pass multipliers through their exact Jacobian
(autograd of the layer alone), single-input nonlinearities take `Δy/Δx` (the Rescale rule,
Shrikumar et al. 2017, §3.5.2), a max-pool window credits `max(y, y') − y'` to the image's
argmax and `y − max(y, y')` to the reference's (found with `unfold`, not max-pool's backward),
and a gate `x ⊙ s(x)` gives each factor the mean of the other over image and reference.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from captum.attr import DeepLift
from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers._reference import gaussian_blur
from saliency_service.explainers.deeplift import check_model, deeplift
from saliency_service.models.classifier import Classifier
from torch import Tensor, nn

from tests.unit.explainers.support import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    max_rel_diff,
    small_cnn,
)

EPS = 1e-10  # |Δx| below which the derivative stands in for Δy/Δx
# Summation-to-delta in float32 on resnet18 (its logits and activations rounded): measured
# ≤ 6e-5 of |f(x) − f(x')| over the three baselines here; in float64 it is rounding only.
FLOAT32_GAP = 1e-4
FLOAT64_GAP = 1e-10


def _reference(kind: str, images: Tensor) -> Tensor:
    if kind == "black":
        return torch.zeros_like(images)
    if kind == "blurred":
        return gaussian_blur(images, 5.0)
    return torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)).expand_as(images)


@pytest.mark.parametrize("baseline", ["black", "blurred", "uniform"])
def test_summation_to_delta_on_resnet18(
    resnet: Classifier, images: Tensor, targets: Tensor, baseline: str
) -> None:
    # In-place, reused ReLU modules and an overlapping 3×3/2 max-pool: every difference must
    # still be accounted for, Σ (x − x') ⊙ m = f_c(x) − f_c(x').
    ours = deeplift(resnet, images, targets, baseline=baseline)
    assert ours.attributions is not None
    with torch.no_grad():
        logits = resnet(images) - resnet(_reference(baseline, images))
    delta = logits.gather(1, targets[:, None])[:, 0]
    assert torch.allclose(ours.diagnostics["score_delta"], delta, rtol=1e-5, atol=1e-6)
    total = ours.attributions.double().sum(dim=(1, 2, 3))
    assert ((total - delta).abs() <= FLOAT32_GAP * delta.abs()).all()
    assert (ours.diagnostics["relative_completeness_gap"] <= FLOAT32_GAP).all()


def test_summation_to_delta_on_resnet18_in_float64(
    resnet: Classifier, images: Tensor, targets: Tensor
) -> None:
    exact = copy.deepcopy(resnet).double()
    ours = deeplift(exact, images.double(), targets, baseline="uniform")
    assert (ours.diagnostics["relative_completeness_gap"] <= FLOAT64_GAP).all()


class _Gate(nn.Module):
    """Squeeze-and-excitation: `x ⊙ s(x)`, s a pooled bottleneck ending in a Hardsigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, 4, 1),
            nn.ReLU(),
            nn.Conv2d(4, channels, 1),
            nn.Hardsigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.branch(x)


def _overlapping_pool_net() -> nn.Sequential:
    """resnet's stem in small: a 3×3, stride-2, padded max-pool whose windows overlap."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 10),
    )  # fmt: skip


def _mobile_net() -> nn.Sequential:
    """Hardswish, a gate, SiLU, max-pool, GELU, tanh and sigmoid: every rule but ReLU's alone."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Hardswish(), _Gate(8),
        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.SiLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(8 * 8 * 8, 16), nn.GELU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 16),
        nn.Sigmoid(), nn.Linear(16, 10),
    )  # fmt: skip


NETS = {"relu_maxpool": small_cnn, "overlapping_maxpool": _overlapping_pool_net,
        "mobile": _mobile_net}  # fmt: skip
ELEMENTWISE = (nn.ReLU, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.GELU, nn.Tanh, nn.Sigmoid)


def _multipliers(module: nn.Module, x: Tensor, x_ref: Tensor, m_out: Tensor) -> Tensor:
    """The multipliers of `module`'s input, given those of its output (the oracle)."""
    if isinstance(module, nn.Sequential):
        inputs = [(x, x_ref)]
        for child in module:
            inputs.append((child(inputs[-1][0]), child(inputs[-1][1])))
        for child, (a, a_ref) in zip(reversed(module), reversed(inputs[:-1]), strict=True):
            m_out = _multipliers(child, a, a_ref, m_out)
        return m_out
    if isinstance(module, _Gate):
        s, s_ref = module.branch(x), module.branch(x_ref)
        to_gate = (m_out * (x + x_ref) / 2).sum(dim=(2, 3), keepdim=True)
        return m_out * (s + s_ref) / 2 + _multipliers(module.branch, x, x_ref, to_gate)
    delta = x - x_ref
    if isinstance(module, ELEMENTWISE):
        point = x.detach().requires_grad_(True)
        (slope,) = torch.autograd.grad(module(point).sum(), point)
        ratio = (module(x) - module(x_ref)) / torch.where(delta == 0, 1.0, delta)
        return m_out * torch.where(delta.abs() < EPS, slope, ratio)
    if isinstance(module, nn.MaxPool2d):
        return _max_pool_multipliers(module, x, x_ref, m_out)
    # Affine: the Jacobian is the multiplier, the same at every point.
    _, pulled = torch.autograd.functional.vjp(module, x, m_out)
    return pulled


def _max_pool_multipliers(pool: nn.MaxPool2d, x: Tensor, x_ref: Tensor, m_out: Tensor) -> Tensor:
    kernel, stride, padding = pool.kernel_size, pool.stride, pool.padding
    assert isinstance(kernel, int) and isinstance(stride, int) and isinstance(padding, int)
    n, c, h, w = x.shape
    side = (h + 2 * padding, w + 2 * padding)

    def windows(t: Tensor) -> Tensor:  # (N·C, kernel², windows), padding never the max
        padded = F.pad(t, (padding,) * 4, value=float("-inf")).reshape(n * c, 1, *side)
        return F.unfold(padded, kernel, stride=stride)

    def to_inputs(credit: Tensor) -> Tensor:  # summed where windows overlap
        summed = F.fold(credit, side, kernel, stride=stride)
        return summed[..., padding : padding + h, padding : padding + w].reshape(n, c, h, w)

    y, at = windows(x).max(dim=1)
    y_ref, at_ref = windows(x_ref).max(dim=1)
    top = torch.maximum(y, y_ref)
    g = m_out.reshape(n * c, -1)
    credit = torch.zeros_like(windows(x)).nan_to_num(neginf=0.0)
    credit.scatter_add_(1, at[:, None], (g * (top - y_ref))[:, None])
    credit.scatter_add_(1, at_ref[:, None], (g * (y - top))[:, None])
    plain = torch.zeros_like(credit).scatter_add_(1, at[:, None], g[:, None])
    delta = x - x_ref
    ratio = to_inputs(credit) / torch.where(delta == 0, 1.0, delta)
    return torch.where(delta.abs() < EPS, to_inputs(plain), ratio)


@pytest.mark.parametrize("name", sorted(NETS))
def test_matches_a_layer_by_layer_oracle(name: str, images: Tensor, targets: Tensor) -> None:
    torch.manual_seed(5)
    network = NETS[name]().double().eval()
    with torch.no_grad():  # random running statistics, so batch norm is a real affine map
        for norm in (m for m in network.modules() if isinstance(m, nn.BatchNorm2d)):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
    x = images.double()
    x_ref = torch.rand(x.shape[1:], generator=torch.Generator().manual_seed(8)).double()
    ours = deeplift(network, x, targets, baseline="given",
                    baseline_image=x_ref.permute(1, 2, 0))  # fmt: skip
    m_out = F.one_hot(targets, 10).double()
    expected = (x - x_ref) * _multipliers(network, x, x_ref.expand_as(x), m_out).detach()
    assert ours.attributions is not None
    assert max_rel_diff(ours.attributions, expected) <= 1e-9
    assert (ours.diagnostics["relative_completeness_gap"] <= FLOAT64_GAP).all()


@pytest.mark.parametrize(
    "layers", [{"max_pool": False}, {"relu": False}], ids=["relu_avgpool", "maxpool_only"]
)
def test_matches_captum_on_nets_it_handles(
    images: Tensor, targets: Tensor, layers: dict[str, bool]
) -> None:
    # Captum's ReLU rule and its 2×2 max-pool rule are each exact, but not together (see
    # small_cnn), so each is compared on a net that has only one of them.
    torch.manual_seed(4)
    model = Classifier(small_cnn(**layers), IMAGENET_MEAN, IMAGENET_STD).eval()
    ours = deeplift(model, images, targets, baseline="uniform").attributions
    reference = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    expected = DeepLift(model).attribute(
        images, baselines=reference.expand_as(images), target=targets
    )
    assert ours is not None
    assert max_rel_diff(ours, expected) <= 1e-6  # measured 2e-7: float32 rounding


def test_functional_relus_and_pools_match_the_module_net(
    functional_cnn: Classifier, tiny_cnn: Classifier, images: Tensor, targets: Tensor
) -> None:
    ours = deeplift(functional_cnn, images, targets).attributions
    expected = deeplift(tiny_cnn, images, targets).attributions
    assert ours is not None
    assert expected is not None
    assert max_rel_diff(ours, expected) <= 1e-6


def test_given_reference_and_chunks(resnet: Classifier, images: Tensor, targets: Tensor) -> None:
    reference = torch.full((32, 32, 3), 0.5)
    whole = deeplift(resnet, images, targets, baseline="given", baseline_image=reference)
    chunked = deeplift(
        resnet, images, targets, baseline="given", baseline_image=reference, chunk_size=3
    )
    assert whole.attributions is not None
    assert chunked.attributions is not None
    assert max_rel_diff(chunked.attributions, whole.attributions) <= 1e-6
    assert (whole.diagnostics["relative_completeness_gap"] <= FLOAT32_GAP).all()


def test_a_model_without_a_nonlinearity_is_unsupported(images: Tensor, targets: Tensor) -> None:
    # No rule would apply: the result would be (x − x') ⊙ ∇f(x), whatever the model hides.
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    with pytest.raises(UnsupportedMethod, match="no nonlinearity"):
        deeplift(linear, images, targets)


class _Custom(nn.Module):
    """A conv, then whatever `rest` does in its own forward (unseen by a module walk)."""

    def __init__(self, rest: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 10)
        self.rest = rest

    def forward(self, x: Tensor) -> Tensor:
        y = torch.relu(self.conv(x))
        if self.rest == "layer_norm":
            y = F.layer_norm(y, y.shape[1:])
        elif self.rest == "softmax":
            y = y.softmax(dim=1)
        elif self.rest == "quotient":
            y = y / (1 + y.mean(dim=(2, 3), keepdim=True))
        elif self.rest == "global_max":
            return self.fc(y.amax(dim=(2, 3)))
        return self.fc(y.mean(dim=(2, 3)))


@pytest.mark.parametrize(
    ("layers", "named"),
    [
        ((nn.GroupNorm(2, 4), nn.ReLU()), "GroupNorm"),
        ((nn.LeakyReLU(),), "LeakyReLU"),
        ((nn.ReLU(), nn.LayerNorm(30)), "LayerNorm"),
    ],
)
def test_modules_without_a_rule_are_refused_before_compute(
    layers: tuple[nn.Module, ...], named: str
) -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 4, 3), *layers)
    with pytest.raises(UnsupportedMethod, match=named):
        check_model(Classifier(module, IMAGENET_MEAN, IMAGENET_STD))


def test_torchscript_is_refused_before_compute() -> None:
    torch.manual_seed(0)
    with warnings.catch_warnings():  # PyTorch deprecates TorchScript; such models still exist
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
    with pytest.raises(UnsupportedMethod, match="TorchScript"):
        check_model(scripted)


def test_exported_operators_without_a_rule_are_refused_before_compute() -> None:
    torch.manual_seed(0)
    program = torch.export.export(_Custom("layer_norm").eval(), (torch.rand(2, 3, 8, 8),))
    unflattened = torch.export.unflatten(program)
    with pytest.raises(UnsupportedMethod, match="layer_norm"):
        check_model(unflattened)
    check_model(torch.export.unflatten(torch.export.export(  # ReLU only: accepted
        _Custom("none").eval(), (torch.rand(2, 3, 8, 8),))))  # fmt: skip


@pytest.mark.parametrize("rest", ["layer_norm", "softmax", "quotient", "global_max"])
def test_functions_without_a_rule_are_refused_when_met(
    rest: str, images: Tensor, targets: Tensor
) -> None:
    torch.manual_seed(6)
    model = _Custom(rest).eval()
    check_model(model)  # a custom forward hides them from the module walk
    with pytest.raises(UnsupportedMethod, match="no rule for"):
        deeplift(model, images, targets)
