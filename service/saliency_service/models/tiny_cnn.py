"""A small convolutional classifier for quick training runs (tests, the robustness bench).

Two conv/ReLU blocks (stride 2 overall), then an average pool to 4×4 and a linear head: the
head sees where features are, so it can learn position-bound evidence that a global average
would wash out, and the cost stays a few hundred thousand multiply-adds per 16×16 image.
"""

from __future__ import annotations

from torch import Tensor, nn

POOLED = 4


class TinyCNN(nn.Module):
    """Shape: input (N, channels, H, W), H and W ≥ 2, normalised; output (N, num_classes)."""

    def __init__(self, num_classes: int, channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(POOLED)
        self.fc = nn.Linear(2 * width * POOLED * POOLED, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.fc(self.pool(self.features(x)).flatten(1))
        return logits
