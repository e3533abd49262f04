"""Method parameters through the real server, each against an oracle computed here.

IG's quadrature rule (a parameter the client can pass), CAM as Zhou et al. define it (no ReLU
unless asked), a given baseline in (H, W, C) like every other image, adaptive IG's choice of
step count, and DeepLIFT's refusal of models it has no rule for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients
from PIL import Image
from saliency_client import InvalidArgument, SaliencyClient, Unimplemented, cli
from saliency_service.demo.shapes import generate
from saliency_service.models.classifier import Classifier
from saliency_service.models.shapes_cnn import CAM_LAYER, ShapesCNN
from torch import Tensor, nn

from tests.integration.oracles import demo_classifier
from tests.serving import ServerThread

pytestmark = pytest.mark.integration
MODEL = "shapes"


@pytest.fixture(scope="module")
def local_model() -> Classifier:
    """The demo model loaded here, independently of the server."""
    return demo_classifier()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return generate(4, seed=6061).images


@pytest.fixture
def client(grpc_target: str):  # type: ignore[no-untyped-def]
    with SaliencyClient(grpc_target, timeout=300) as client:
        yield client


def chw(images: np.ndarray) -> Tensor:
    return torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2).float() / 255


def max_rel_diff(actual: np.ndarray | Tensor, expected: np.ndarray | Tensor) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


def test_ig_quadrature_is_a_parameter_the_client_and_cli_can_pass(  # type: ignore[no-untyped-def]
    client, grpc_target, images, local_model, tmp_path: Path
) -> None:
    x = chw(images[:2])
    for rule in ("riemann_trapezoid", "riemann_left"):
        results = client.explain(list(images[:2]), model=MODEL, method="integrated_gradients",
                                 quadrature=rule, steps=8, return_attributions=True)
        targets = torch.tensor([r.explanations[0].target for r in results])
        expected = IntegratedGradients(local_model).attribute(
            x, baselines=torch.zeros_like(x), target=targets, n_steps=8, method=rule
        ).permute(0, 2, 3, 1)
        if rule == "riemann_trapezoid":  # Captum weights the trapezoid's points by 1/n
            expected = expected * 8 / 7
        ours = np.stack([r.explanations[0].attributions for r in results])
        assert max_rel_diff(ours, expected.detach()) <= 1e-4
    path = tmp_path / "image.png"
    Image.fromarray(images[0]).save(path)
    status = cli.main(["--target", grpc_target, "explain", str(path), "--method",
                       "integrated_gradients", "--param", "quadrature=riemann_left",
                       "--param", "steps=4", "-o", str(tmp_path / "map.png")])
    assert status == 0


def _zhou_cam(model: Classifier, x: Tensor, targets: Tensor) -> Tensor:
    """M_c = Σ_k w^c_k f_k(x, y) (Zhou et al. 2016, eq. 2) at the layer's resolution."""
    network = model.network
    assert isinstance(network, ShapesCNN)
    captured: list[Tensor] = []
    hook = network.get_submodule(CAM_LAYER).register_forward_hook(
        lambda _m, _i, out: captured.append(out.detach())
    )
    try:
        with torch.no_grad():
            model(x)
    finally:
        hook.remove()
    return torch.einsum("nk,nkhw->nhw", network.fc.weight[targets].detach(), captured[0])


def test_cam_is_zhous_map_and_relu_is_a_flag(client, images, local_model) -> None:  # type: ignore[no-untyped-def]
    x = chw(images)
    plain = client.explain(list(images), model=MODEL, method="cam")
    targets = torch.tensor([r.explanations[0].target for r in plain])
    maps = _zhou_cam(local_model, x, targets)
    ours = np.stack([r.explanations[0].heatmap for r in plain])
    assert ours.min() < 0, "Zhou et al.'s map has negative evidence too"
    size = images.shape[1:3]
    expected = F.interpolate(maps[:, None], size, mode="bilinear", align_corners=False)[:, 0]
    assert max_rel_diff(ours, expected) <= 1e-4
    # GAP + linear head: the map's mean plus the class bias is the logit (Zhou et al., eq. 1).
    with torch.no_grad():
        logits = local_model(x).gather(1, targets[:, None])[:, 0]
    bias = local_model.network.fc.bias[targets].detach()
    np.testing.assert_allclose(ours.mean(axis=(1, 2)) + bias.numpy(), logits, atol=1e-3)
    relu = client.explain(list(images), model=MODEL, method="cam", relu=True)
    clamped = F.interpolate(maps.clamp_min(0)[:, None], size, mode="bilinear",
                            align_corners=False)[:, 0]
    assert max_rel_diff(np.stack([r.explanations[0].heatmap for r in relu]), clamped) <= 1e-4


def test_a_given_baseline_is_an_h_w_c_image(client, images, local_model) -> None:  # type: ignore[no-untyped-def]
    # Left half black, right half a random texture: a transposed reading would differ.
    baseline = np.random.default_rng(11).random((64, 64, 3), dtype=np.float32)
    baseline[:, :32] = 0
    (result,) = client.explain([images[0]], model=MODEL, method="integrated_gradients",
                               baseline="given", baseline_image=baseline, steps=16)
    explanation = result.explanations[0]
    reference = torch.from_numpy(baseline).permute(2, 0, 1)[None]
    with torch.no_grad():
        scores = local_model(torch.cat([chw(images[:1]), reference]))[:, explanation.target]
    assert explanation.diagnostics["score_delta"] == pytest.approx(
        float(scores[0] - scores[1]), abs=1e-4)
    chw_baseline = np.ascontiguousarray(baseline.transpose(2, 0, 1))
    try:  # refused per image today; a request-level refusal would be as clear
        (refused,) = client.explain([images[0]], model=MODEL, method="deeplift",
                                    baseline="given", baseline_image=chw_baseline)
        message = refused.error.details if refused.error else ""
    except InvalidArgument as error:
        message = error.details
    assert "(H, W, C)" in message


def test_adaptive_ig_returns_the_step_count_with_the_smallest_gap(  # type: ignore[no-untyped-def]
    client, images, local_model
) -> None:
    # An unreachable tolerance: every image tries 32 and 64 points and must return the result
    # with the smaller |gap|, saying the tolerance was not met.
    x = chw(images[:2])
    results = client.explain(list(images[:2]), model=MODEL, method="integrated_gradients",
                             tolerance=1e-9, max_steps=64, return_attributions=True)
    targets = torch.tensor([r.explanations[0].target for r in results])
    with torch.no_grad():
        delta = (local_model(x) - local_model(torch.zeros_like(x))).gather(1, targets[:, None])
    gaps = {}
    for steps in (32, 64):
        attributions = IntegratedGradients(local_model).attribute(
            x, baselines=torch.zeros_like(x), target=targets, n_steps=steps
        )
        gaps[steps] = (attributions.sum(dim=(1, 2, 3)) - delta[:, 0]).abs().detach()
    for i, result in enumerate(results):
        d = result.explanations[0].diagnostics
        ranked = sorted(gaps, key=lambda steps: float(gaps[steps][i]))
        assert d["tolerance_met"] == 0.0
        # Float32 sums of 12 288 attributions agree to ~1e-3 between the two computations.
        assert abs(d["completeness_gap"]) == pytest.approx(float(gaps[ranked[0]][i]), abs=2e-3)
        if gaps[ranked[1]][i] - gaps[ranked[0]][i] > 4e-3:  # a clear best: it is returned
            assert d["steps"] == ranked[0]


class _NormNet(nn.Module):
    """Conv, GroupNorm (no DeepLIFT rule: it divides by a statistic of its input), ReLU, GAP."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.GroupNorm(2, 4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.relu(self.norm(self.conv(x))).mean(dim=(2, 3)))


def _exported_repository(root: Path) -> Path:
    torch.manual_seed(0)
    folder = root / "norm_net"
    folder.mkdir(parents=True)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(_NormNet().eval(), (torch.rand(2, 3, 16, 16),),
                                  dynamic_shapes=({0: batch},))
    torch.export.save(program, str(folder / "model.pt2"))
    (folder / "model.toml").write_text(
        'exported_program = "model.pt2"\nlabels = ["a", "b"]\n[input]\nheight = 16\nwidth = 16\n'
    )
    return root


def test_deeplift_refuses_a_model_it_has_no_rule_for_as_the_call_status(tmp_path: Path) -> None:
    server = ServerThread(_exported_repository(tmp_path / "repository"))
    try:
        image = np.random.default_rng(5).random((16, 16, 3), dtype=np.float32)
        with SaliencyClient(server.target) as client:
            with pytest.raises(Unimplemented, match="group_norm"):
                client.explain([image, image], model="norm_net", method="deeplift")
            (fine,) = client.explain([image], model="norm_net", method="integrated_gradients")
    finally:
        server.stop()
    assert fine.error is None


def test_deeplift_sums_to_delta_on_the_demo_model(client, images, local_model) -> None:  # type: ignore[no-untyped-def]
    results = client.explain(list(images), model=MODEL, method="deeplift",
                             return_attributions=True)
    x = chw(images)
    with torch.no_grad():
        delta = local_model(x) - local_model(torch.zeros_like(x))
    for i, result in enumerate(results):
        explanation = result.explanations[0]
        total = float(explanation.attributions.astype(np.float64).sum())
        assert total == pytest.approx(float(delta[i, explanation.target]), rel=1e-4, abs=1e-5)
