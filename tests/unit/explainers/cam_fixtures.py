"""Models, inputs and the peers' conventions for the CAM-family and attention tests.

Builders are cached: each model is built once per test session, seeded, with random weights,
in eval mode. Tests must not modify them.
"""

from __future__ import annotations

from functools import cache

import torch
from saliency_service.explainers import EXPLAINERS
from saliency_service.models.classifier import Classifier
from saliency_service.models.layers import default_cam_layer
from torch import Tensor, nn
from torchvision import models
from torchvision.models.vision_transformer import VisionTransformer

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CAM_METHODS = tuple(name for name, spec in EXPLAINERS.items() if spec.hooks_layer)
"""Every registry entry that takes a layer: the CAM family, as the registry says."""


def images(count: int, size: int, seed: int = 2) -> Tensor:
    """`count` seeded images of 3 x size x size pixels in [0, 1]."""
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


@cache
def resnet18_classifier() -> Classifier:
    """torchvision resnet18, 10 classes, in-place and reused ReLUs as shipped."""
    torch.manual_seed(0)
    return Classifier(models.resnet18(num_classes=10), IMAGENET_MEAN, IMAGENET_STD).eval()


@cache
def scaled_head_resnet18() -> Classifier:
    """`resnet18_classifier` with its final layer's weights x 1000.

    pytorch-grad-cam adds ε = 1e-6 to Grad-CAM++'s denominator 2g² + ΣA·g³; with random weights
    at 64 x 64, g² is of the same order, so ε changes its weights. Gradients 1000x larger make
    ε negligible, so the remaining difference is the method's.
    """
    torch.manual_seed(0)
    network = models.resnet18(num_classes=10)
    network.load_state_dict(resnet18_classifier().network.state_dict())
    with torch.no_grad():
        network.fc.weight.mul_(1000)
    return Classifier(network, IMAGENET_MEAN, IMAGENET_STD).eval()


class TinyGapCNN(nn.Module):
    """Three conv blocks, global average pooling and one linear layer: every CAM method applies.

    Shape:
        input: (N, 3, H, W); output: (N, 10).
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 12, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(12, 16, 3, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(16, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


@cache
def tiny_gap_cnn() -> Classifier:
    torch.manual_seed(3)
    return Classifier(TinyGapCNN(), IMAGENET_MEAN, IMAGENET_STD).eval()


@cache
def tiny_vit(num_layers: int = 2) -> Classifier:
    """torchvision's VisionTransformer, 32 x 32 input, 8 x 8 patches (a 4 x 4 grid + class token).

    torchvision zero-initialises the head; it gets random weights so that gradients flow.
    """
    torch.manual_seed(4)
    network = VisionTransformer(
        image_size=32,
        patch_size=8,
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
        num_classes=10,
    )
    nn.init.normal_(network.heads.head.weight, std=0.1)
    return Classifier(network, IMAGENET_MEAN, IMAGENET_STD).eval()


def like_pytorch_grad_cam(maps: Tensor) -> Tensor:
    """pytorch-grad-cam's `scale_cam_image`: per image, subtract the min, divide by 1e-7 + max.

    Shape:
        maps: (N, H, W); returns (N, H, W).
    """
    shifted = maps - maps.amin(dim=(1, 2), keepdim=True)
    return shifted / (1e-7 + shifted.amax(dim=(1, 2), keepdim=True))


def hook_count(model: nn.Module) -> int:
    """Forward, forward-pre and backward hooks left on any module of `model`."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


@cache
def torchvision_classifier(architecture: str, image_size: int | None = None) -> Classifier:
    """A torchvision architecture with seeded random weights and 1000 classes.

    `image_size` is passed on to the builder (vision transformers take any size when built
    without weights; vit_b_16 at 64 has vit_b_16's layers over a 4 x 4 grid of patches).
    vit_b_16's head is zero-initialised by torchvision (every gradient would vanish); it gets
    random weights here, as a trained head has.
    """
    torch.manual_seed(7)
    options = {} if image_size is None else {"image_size": image_size}
    network = getattr(models, architecture)(weights=None, **options)
    if architecture == "vit_b_16":
        nn.init.normal_(network.heads.head.weight, std=0.02)
    return Classifier(network, IMAGENET_MEAN, IMAGENET_STD).eval()


@cache
def default_layer(architecture: str, size: int) -> str | None:
    """`default_cam_layer` of `torchvision_classifier(architecture, …)` at size x size, cached.

    Vision transformers are built for `size`; the others take any size as they are.
    """
    image_size = size if architecture.startswith("vit") else None
    network = torchvision_classifier(architecture, image_size).network
    return default_cam_layer(network, (3, size, size))
