"""The demo model's network: a small CNN with a global-average-pooling + linear head.

With a GAP + linear head the class score is a weighted sum of the last feature maps, so CAM
(arXiv:1512.04150) and Grad-CAM (arXiv:1610.02391) at `CAM_LAYER` coincide up to a positive
factor and point at the object.
"""

from __future__ import annotations

from torch import Tensor, nn

# The output of the last ReLU in `features`: 8x8 cells (stride 8) at 64 px input.
CAM_LAYER = "features.15"


def _block(
    in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1
) -> list[nn.Module]:
    # Bias is redundant before batch norm.
    return [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size=3,
            stride=stride,
            padding=dilation,
            dilation=dilation,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]


class ShapesCNN(nn.Module):
    """Five conv/bn/relu blocks with three 2x2 max-pools, then GAP and a linear classifier.

    About 200 K parameters. ReLUs are separate, non-in-place modules so that hooks on any of
    them see that layer's own output.

    Shape:
        input: (N, 3, H, W), normalised; output: (N, num_classes) logits.
    """

    def __init__(self, num_classes: int = 6) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_block(3, 24, stride=2),
            *_block(24, 32),
            nn.MaxPool2d(2),
            *_block(32, 64),
            *_block(64, 64, dilation=2),
            *_block(64, 96, dilation=4),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(96, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))
