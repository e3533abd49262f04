"""Class model visualisation (Simonyan et al. 2014, "Deep Inside Convolutional Networks:
Visualising Image Classification Models and Saliency Maps", https://arxiv.org/abs/1312.6034,
§2, eq. 1): the image I maximising S_c(I) − λ‖I‖², found by gradient ascent from the zero image.

Steps. The raw gradient's scale differs by orders of magnitude between models (and is tiny for
random weights), so each step is normalised per image: the pixel the objective's gradient
favours most moves by `learning_rate`, the others in proportion. The direction is the gradient's.

Pixel space. Simonyan et al. work on the network's mean-subtracted input, where the zero image is
the neutral (mean) image. Here the model takes pixels x in [0, 1], and the neutral image is
mid-grey: I = x − 0.5 starts at zero, is penalised by λ‖I‖², and each step is projected back
onto the valid pixels (x clamped to [0, 1]). The heatmap shows where and how far the image left
grey: max over channels of |x − 0.5|. The image in the explanation is x.

A flat start. On some networks the score is flat at exact grey (every ReLU unit sits at its
kink or below it, as on the demo model, whose first convolution has no bias): the gradient is
zero and ascent would never leave grey. Such rows start instead from grey plus a fixed pattern
of ±1/255 (seeded, the same for every row, so a row's result does not depend on its batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.explainers._autograd import input_gradients, target_scores
from saliency_service.explainers.base import ExplainerSpec, Explanation
from saliency_service.params import Param

GREY = 0.5
JITTER = 1 / 255
JITTER_SEED = 0


def class_model_visualization(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    steps: int = 100,
    learning_rate: float = 0.01,
    l2: float = 1e-3,
    chunk_size: int | None = None,
) -> Explanation:
    """An image per row that the model scores highly as that row's target class.

    Args:
        model: pixels in [0, 1] -> logits, in eval mode.
        images: only their shape, dtype and device are used; not modified.
        targets: the class to visualise for each row.
        steps: gradient-ascent steps.
        learning_rate: the largest pixel change of one step, in [0, 1] pixel units.
        l2: λ, the weight of the penalty ‖x − 0.5‖².
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        `image`: the result x in [0, 1]; `heatmap`: max over channels of |x − 0.5|;
        `diagnostics`: "initial_score" S_c of the grey image and "final_score" S_c(x).

    Shape:
        images: (N, C, H, W); targets: (N,); image: (N, C, H, W); heatmap: (N, H, W);
        diagnostics: (N,) each.
    """
    image = torch.full_like(images, GREY)
    initial = target_scores(model, image, targets, chunk_size)
    for step in range(steps):
        gradient, _ = input_gradients(model, image, targets, chunk_size)
        if step == 0:
            image, gradient = _leave_flat_start(model, image, targets, gradient, chunk_size)
        # Ascent on S_c(x) − λ‖x − ½‖² (eq. 1), then projection onto [0, 1].
        ascent = gradient - 2 * l2 * (image - GREY)
        scale = ascent.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(torch.finfo().tiny)
        image = (image + learning_rate * ascent / scale).clamp(0, 1)
    final = target_scores(model, image, targets, chunk_size)
    return Explanation(
        heatmap=(image - GREY).abs().amax(dim=1),
        image=image,
        diagnostics={"initial_score": initial, "final_score": final},
    )


def _leave_flat_start(
    model: nn.Module, image: Tensor, targets: Tensor, gradient: Tensor, chunk_size: int | None
) -> tuple[Tensor, Tensor]:
    """Rows whose gradient is exactly zero at grey restart from grey ± `JITTER` (see above)."""
    flat = gradient.flatten(1).abs().amax(dim=1) == 0
    if not bool(flat.any()):
        return image, gradient
    generator = torch.Generator().manual_seed(JITTER_SEED)
    signs = torch.randint(0, 2, image.shape[1:], generator=generator).to(image) * 2 - 1
    image = torch.where(flat[:, None, None, None], image + JITTER * signs, image)
    rows = flat.nonzero()[:, 0]
    restarted, _ = input_gradients(model, image[rows], targets[rows], chunk_size)
    gradient = gradient.index_copy(0, rows, restarted)
    return image, gradient


def _steps(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return float(cast(int, params["steps"]))


CLASS_MODEL_VISUALIZATION = ExplainerSpec(
    name="class_model_visualization",
    function=class_model_visualization,
    params=(
        Param("steps", "integer", 100, "gradient-ascent steps", minimum=1, maximum=10000),
        Param(
            "learning_rate",
            "number",
            0.01,
            "largest pixel change per step (pixels in [0, 1]); steps are normalised",
            minimum=0.0,
            maximum=1.0,
        ),
        Param(
            "l2",
            "number",
            1e-3,
            "λ, the weight of the penalty on the squared distance from mid-grey",
            minimum=0.0,
            maximum=1e6,
        ),
    ),
    description="an image the model scores highly as the target class, by gradient ascent "
    "from grey (Simonyan et al. 2014); returns an image",
    passes=_steps,
    image=True,
)
