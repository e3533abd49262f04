"""The demo model's network: a small CNN with a global-average-pooling + linear head.

With a GAP + linear head the class score is a weighted sum of the last feature maps, so CAM
(Zhou et al. 2016, https://arxiv.org/abs/1512.04150) and Grad-CAM at `CAM_LAYER` coincide up
to a positive factor.
"""

from __future__ import annotations

from torch import Tensor, nn

# The last ReLU of `features`: a 16x16 map (stride 4) at 64 px input. Stride 8 was tried: its
# upsampled Grad-CAM can only peak on an 8-px grid of points, which misses thin objects (stars,
# triangle tips) a third of the time.
CAM_LAYER = "features.18"


def _block(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    # No conv bias: batch norm's shift makes it redundant.
    return [
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]


class ShapesCNN(nn.Module):
    """Six conv/bn/relu blocks (stride 4 overall), then GAP and a linear classifier.

    About 140 K parameters. The last block's receptive field (41 px) spans the largest object,
    so the cell at an object's centre sees all of its outline. Every ReLU is its own
    non-in-place module, so a hook on any of them sees that layer's output.

    Shape:
        input: (N, 3, H, W), normalised; output: (N, num_classes) logits.
    """

    def __init__(self, num_classes: int = 6) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_block(3, 24, stride=2),
            *_block(24, 32),
            nn.MaxPool2d(2),
            *_block(32, 48),
            *_block(48, 64),
            *_block(64, 64),
            *_block(64, 96),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(96, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.fc(self.pool(self.features(x)).flatten(1))
        return logits
