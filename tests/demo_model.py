"""The trained demo model loaded in the test process, independently of any server: the oracle
that service figures are checked against."""

from __future__ import annotations

import safetensors.torch
from saliency_service.config import DEMO_REPOSITORY
from saliency_service.models.classifier import Classifier
from saliency_service.models.config import read_model_config
from saliency_service.models.shapes_cnn import ShapesCNN


def demo_classifier() -> Classifier:
    """The demo repository's "shapes" model, in eval mode, weights frozen."""
    config = read_model_config(DEMO_REPOSITORY / "shapes")
    network = ShapesCNN(num_classes=config.num_classes)
    assert config.weights is not None
    network.load_state_dict(safetensors.torch.load_file(str(config.weights)))
    return Classifier(network, config.mean, config.std).eval().requires_grad_(False)
