"""Which layers GetModel offers for CAM methods, and the default layer per architecture."""

from __future__ import annotations

import pytest
import torch
from saliency_service.explainers.grad_cam import grad_cam
from saliency_service.models.layers import cam_layers, default_cam_layer
from torch import nn

from tests.unit.explainers.cam_fixtures import (
    default_layer,
    hook_count,
    images,
    resnet18_classifier,
    tiny_gap_cnn,
    torchvision_classifier,
)

DEFAULTS = [
    ("resnet18", 64, "layer4"),
    ("mobilenet_v3_small", 64, "features"),
    ("convnext_tiny", 64, "features"),
    ("swin_t", 64, "permute"),
    ("vit_b_16", 64, "encoder.layers.encoder_layer_11.ln_1"),
]


@pytest.mark.parametrize(
    ("architecture", "size", "expected"), DEFAULTS, ids=[d[0] for d in DEFAULTS]
)
def test_default_layer_is_the_last_conv_block(architecture: str, size: int, expected: str) -> None:
    assert default_layer(architecture, size) == expected
    network = torchvision_classifier(architecture, 64 if architecture == "vit_b_16" else None)
    assert hook_count(network) == 0
    assert all(p.grad is None for p in network.parameters())


def test_the_default_skips_a_final_pooling_as_vgg_needs() -> None:
    # vgg16's features end in a max-pool that halves relu5_3's map, and its AdaptiveAvgPool2d
    # resizes it again: the default is the last ReLU before them ("features.29" in vgg16).
    torch.manual_seed(0)
    vgg_like = nn.Sequential(
        nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        ),
        nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(4 * 7 * 7, 10),
    ).eval()  # fmt: skip
    assert default_cam_layer(vgg_like, (3, 32, 32)) == "0.3"
    assert {"0.3", "0.4", "0", "1"} <= set(cam_layers(vgg_like, (3, 32, 32)))


def test_resnet18_lists_blocks_and_leaves_out_what_cam_cannot_use() -> None:
    layers = cam_layers(resnet18_classifier().network, (3, 64, 64))
    assert {"conv1", "layer1", "layer3.0.downsample", "layer4.1", "layer4"} <= set(layers)
    # relu modules run twice per block; avgpool's map is 1 x 1; fc's output is no map.
    assert not {"layer4.1.relu", "avgpool", "fc", ""} & set(layers)
    assert layers.index("layer4.1") < layers.index("layer4"), "a block after its children"


def test_channels_last_and_token_layers_are_listed() -> None:
    swin = cam_layers(torchvision_classifier("swin_t").network, (3, 64, 64))
    assert {"features.7", "norm", "permute"} <= set(swin)
    vit = cam_layers(torchvision_classifier("vit_b_16", 64).network, (3, 64, 64))
    assert {"conv_proj", "encoder.layers.encoder_layer_11.ln_1", "encoder.ln"} <= set(vit)
    assert "encoder.layers.encoder_layer_11.self_attention" not in vit, "it returns a tuple"


def test_every_listed_layer_can_be_explained() -> None:
    model, x = resnet18_classifier(), images(1, 64)
    for name in cam_layers(model.network, (3, 64, 64)):
        heatmap = grad_cam(model, x, torch.tensor([3]), layer=model.layer(name)).heatmap
        assert heatmap.shape == (1, 64, 64), name


def test_the_survey_changes_nothing() -> None:
    model, x = resnet18_classifier(), images(2, 64)
    with torch.no_grad():
        before = model(x)
    default_cam_layer(model.network, (3, 64, 64))
    with torch.no_grad():
        assert torch.equal(model(x), before)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_takes_no_hooks_so_lists_nothing() -> None:
    scripted = torch.jit.script(tiny_gap_cnn().network)
    assert cam_layers(scripted, (3, 24, 24)) == []
    assert default_cam_layer(scripted, (3, 24, 24)) is None


def test_a_network_without_feature_maps_has_no_default() -> None:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
    assert cam_layers(mlp, (3, 8, 8)) == []
    assert default_cam_layer(mlp, (3, 8, 8)) is None
