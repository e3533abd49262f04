"""The explainer registry: proto enum short name → function and its parameters.

`EXPLAIN_METHOD_VANILLA_GRADIENT` is "vanilla_gradient", and so on. Every function is called as
`function(model, images, targets, chunk_size=…, **resolved_params)`; tests parametrize over this
dict, so a new entry gets the shared checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import cast

from torch import nn

from saliency_service.errors import InvalidRequest
from saliency_service.explainers._cam_base import LAYER
from saliency_service.explainers._reduce import REDUCTIONS
from saliency_service.explainers._reference import BASELINES
from saliency_service.explainers.attention import HEAD_FUSIONS, attention, attention_rollout
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.explainers.cam import cam
from saliency_service.explainers.class_model import class_model_visualization
from saliency_service.explainers.deeplift import check_model as deeplift_check_model
from saliency_service.explainers.deeplift import deeplift
from saliency_service.explainers.eigen_cam import eigen_cam
from saliency_service.explainers.feature_ablation import FEATURE_ABLATION
from saliency_service.explainers.gradcam import grad_cam
from saliency_service.explainers.gradcam_plus_plus import grad_cam_plus_plus
from saliency_service.explainers.gradient_shap import GRADIENT_SHAP
from saliency_service.explainers.gradients import (
    input_x_gradient,
    squared_gradient,
    vanilla_gradient,
)
from saliency_service.explainers.guided_backprop import deconvnet, guided_backprop
from saliency_service.explainers.guided_grad_cam import guided_grad_cam
from saliency_service.explainers.hires_cam import hires_cam
from saliency_service.explainers.integrated_gradients import (
    AUTO_START_STEPS,
    QUADRATURES,
    integrated_gradients,
)
from saliency_service.explainers.kernel_shap import KERNEL_SHAP
from saliency_service.explainers.layer_cam import layer_cam
from saliency_service.explainers.lime import LIME
from saliency_service.explainers.lrp import LRP
from saliency_service.explainers.occlusion import occlusion, window_starts
from saliency_service.explainers.rise import RISE
from saliency_service.explainers.score_cam import channels_of, score_cam
from saliency_service.explainers.shapley_sampling import SHAPLEY_SAMPLING
from saliency_service.explainers.smoothgrad import smoothgrad
from saliency_service.explainers.xgrad_cam import xgrad_cam
from saliency_service.params import Param

# A forward-only pass costs about a third of a forward+backward one.
FORWARD = 1 / 3


def _reduce(default: str) -> Param:
    return Param(
        "reduce",
        "text",
        default,
        "how the channels of the attributions collapse into the heatmap: max or mean of |·|, "
        "mean, or sum",
        choices=REDUCTIONS,
    )


_SEED = Param(
    "seed",
    "integer",
    0,
    "seeds the random noise; each image gets the same noise whatever else is in the batch",
    minimum=0,
    maximum=2**31 - 1,
)
_SMOOTHING = (
    Param("samples", "integer", 50, "noisy copies per image", minimum=1, maximum=1024),
    Param(
        "noise",
        "number",
        0.15,
        "noise standard deviation as a fraction of the image's value range (x_max − x_min)",
        minimum=0.0,
        maximum=1.0,
    ),
    _SEED,
)
_REFERENCE = (
    Param(
        "baseline",
        "text",
        "black",
        "the reference image x': black (zeros), blurred input, uniform noise, or given",
        choices=BASELINES,
    ),
    Param(
        "blur_sigma",
        "number",
        5.0,
        "Gaussian blur of the 'blurred' baseline, in pixels",
        minimum=0.1,
        maximum=64.0,
    ),
    Param("seed", "integer", 0, "seeds the 'uniform' baseline", minimum=0, maximum=2**31 - 1),
    Param(
        "baseline_image",
        "tensor",
        None,
        "the 'given' baseline: (H, W, C) float32 pixels in [0, 1] at the model's input size",
    ),
)


def _samples(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return float(cast(int, params["samples"]))


def _ig_passes(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    """Fixed steps, or the adaptive mode's worst case: 32, 64, … up to max_steps points."""
    steps, cap = cast(int, params["steps"]), cast(int, params["max_steps"])
    if steps:
        return steps + FORWARD * 2
    total, count = 0, min(AUTO_START_STEPS, cap)
    while True:
        total += count
        if count >= cap:
            return total + FORWARD * 2
        count = min(2 * count, cap)


def _ig_check(params: Mapping[str, object]) -> None:
    if params["steps"] == 1:
        raise InvalidRequest("integrated gradients needs steps = 0 (adaptive) or at least 2")


def _two_passes(_params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return 2.0


def _forward(_params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return FORWARD


def _occlusion_passes(params: Mapping[str, object], shape: tuple[int, int, int]) -> float:
    window, stride = cast(int, params["window"]), cast(int, params["stride"])
    rows = len(window_starts(shape[1], window, stride))
    columns = len(window_starts(shape[2], window, stride))
    return FORWARD * (rows * columns + 1)


def _score_cam_passes(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return FORWARD * (channels_of(cast(nn.Module, params["layer"])) + 1)


def _steps(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return float(cast(int, params["steps"]))


EXPLAINERS: dict[str, ExplainerSpec] = {
    "vanilla_gradient": ExplainerSpec(
        name="vanilla_gradient",
        function=vanilla_gradient,
        params=(_reduce("abs_max"),),
        description="gradient of the class score w.r.t. the pixels (Simonyan et al. 2014)",
        attributions=True,
    ),
    "squared_gradient": ExplainerSpec(
        name="squared_gradient",
        function=squared_gradient,
        params=(_reduce("sum"),),
        description="squared gradient, sensitivity analysis (Montavon et al. 2018)",
        attributions=True,
    ),
    "input_x_gradient": ExplainerSpec(
        name="input_x_gradient",
        function=input_x_gradient,
        params=(_reduce("sum"),),
        description="pixels times the gradient (Shrikumar et al. 2016)",
        attributions=True,
    ),
    "smoothgrad": ExplainerSpec(
        name="smoothgrad",
        function=partial(smoothgrad, mode="smoothgrad"),
        params=(*_SMOOTHING, _reduce("abs_mean")),
        description="mean gradient over noisy copies of the image (Smilkov et al. 2017)",
        passes=_samples,
        attributions=True,
    ),
    "smoothgrad_squared": ExplainerSpec(
        name="smoothgrad_squared",
        function=partial(smoothgrad, mode="smoothgrad_squared"),
        params=(*_SMOOTHING, _reduce("abs_mean")),
        description="mean squared gradient over noisy copies (Hooker et al. 2019)",
        passes=_samples,
        attributions=True,
    ),
    "vargrad": ExplainerSpec(
        name="vargrad",
        function=partial(smoothgrad, mode="vargrad"),
        params=(*_SMOOTHING, _reduce("abs_mean")),
        description="variance of the gradient over noisy copies (Adebayo et al. 2018)",
        passes=_samples,
        attributions=True,
    ),
    "integrated_gradients": ExplainerSpec(
        name="integrated_gradients",
        function=integrated_gradients,
        params=(
            Param(
                "steps",
                "integer",
                0,
                "points on the path; 0 = adaptive: from 32, doubled per image until the "
                "completeness gap is within `tolerance`, up to `max_steps`; each image keeps "
                "the count with the smallest gap",
                minimum=0,
                maximum=4096,
            ),
            Param(
                "max_steps", "integer", 1024, "the adaptive mode's cap", minimum=2, maximum=4096
            ),
            Param(
                "tolerance",
                "number",
                0.01,
                "the adaptive mode's target |gap| / |f_c(x) − f_c(x')|",
                minimum=0.0,
                maximum=1.0,
            ),
            Param(
                "quadrature",
                "text",
                "gausslegendre",
                "the integral's quadrature rule, named as Captum's `method`",
                choices=QUADRATURES,
            ),
            *_REFERENCE,
            _reduce("sum"),
        ),
        description="path integral of gradients from a baseline (Sundararajan et al. 2017); "
        "reports the completeness gap",
        passes=_ig_passes,
        check=_ig_check,
        attributions=True,
    ),
    "guided_backprop": ExplainerSpec(
        name="guided_backprop",
        function=guided_backprop,
        params=(_reduce("abs_max"),),
        description="backprop passing only positive gradients through active ReLUs "
        "(Springenberg et al. 2015)",
        attributions=True,
    ),
    "deconvnet": ExplainerSpec(
        name="deconvnet",
        function=deconvnet,
        params=(_reduce("abs_max"),),
        description="backprop passing only positive gradients through ReLUs, whatever their "
        "input (Zeiler & Fergus 2014)",
        attributions=True,
    ),
    "deeplift": ExplainerSpec(
        name="deeplift",
        function=deeplift,
        params=(*_REFERENCE, _reduce("sum")),
        description="DeepLIFT Rescale rule: contributions of each pixel to f(x) − f(x') "
        "(Shrikumar et al. 2017); reports the summation-to-delta gap as completeness_gap",
        check_model=deeplift_check_model,
        passes=_two_passes,
        attributions=True,
    ),
    "occlusion": ExplainerSpec(
        name="occlusion",
        function=occlusion,
        params=(
            Param(
                "window",
                "integer",
                16,
                "side of the square patch, in pixels",
                minimum=1,
                maximum=1024,
            ),
            Param(
                "stride", "integer", 8, "step between patches, in pixels", minimum=1, maximum=1024
            ),
            Param(
                "baseline_value",
                "number",
                0.0,
                "pixel value of the occluding patch",
                minimum=0.0,
                maximum=1.0,
            ),
        ),
        description="drop in the class score when a sliding patch is blanked, averaged over "
        "the patches covering each pixel (Zeiler & Fergus 2014); one forward pass per patch",
        passes=_occlusion_passes, forward_only=True,
    ),
    "cam": ExplainerSpec(
        name="cam",
        function=cam,
        params=(
            LAYER,
            Param(
                "relu",
                "flag",
                False,
                "clamp the map at zero, as Grad-CAM does; Zhou et al.'s map has no ReLU",
            ),
        ),
        description="class activation map: final linear weights times the feature map, for "
        "networks ending in global average pooling + one linear layer, negative values kept "
        "(Zhou et al. 2016)",
        passes=_forward,
        autocast=True,
    ),
    "grad_cam": ExplainerSpec(
        name="grad_cam",
        function=grad_cam,
        params=(LAYER,),
        description="feature map weighted by its spatially averaged gradients, ReLU "
        "(Selvaraju et al. 2017)",
        autocast=True,
    ),
    "grad_cam_plus_plus": ExplainerSpec(
        name="grad_cam_plus_plus",
        function=grad_cam_plus_plus,
        params=(LAYER,),
        description="Grad-CAM with higher-order pixel weights (Chattopadhay et al. 2018, eq. 19)",
        autocast=True,
    ),
    "layer_cam": ExplainerSpec(
        name="layer_cam",
        function=layer_cam,
        params=(LAYER,),
        description="feature map times its positive gradients, position by position "
        "(Jiang et al. 2021)",
        autocast=True,
    ),
    "hires_cam": ExplainerSpec(
        name="hires_cam",
        function=hires_cam,
        params=(LAYER,),
        description="feature map times its gradients element-wise (Draelos & Carin 2020)",
        autocast=True,
    ),
    "xgrad_cam": ExplainerSpec(
        name="xgrad_cam",
        function=xgrad_cam,
        params=(LAYER,),
        description="gradients averaged with the feature map's values as weights (Fu et al. 2020)",
        autocast=True,
    ),
    "score_cam": ExplainerSpec(
        name="score_cam",
        function=score_cam,
        params=(LAYER,),
        description="channels weighted by the class score of the input masked by each; one "
        "forward pass per channel, no gradients (Wang et al. 2020)",
        passes=_score_cam_passes,
        autocast=True,
        forward_passes=True,
    ),
    "eigen_cam": ExplainerSpec(
        name="eigen_cam",
        function=eigen_cam,
        params=(LAYER,),
        description="first principal component of the feature map; class-agnostic "
        "(Muhammad & Yeasin 2020)",
        passes=_forward,
        autocast=True,
    ),
    "guided_grad_cam": ExplainerSpec(
        name="guided_grad_cam",
        function=guided_grad_cam,
        params=(LAYER, _reduce("abs_max")),
        description="guided backpropagation times the upsampled Grad-CAM (Selvaraju et al. 2017)",
        passes=_two_passes,
        attributions=True,
    ),
    "attention": ExplainerSpec(
        name="attention",
        function=attention,
        params=(
            Param(
                "layer_index",
                "integer",
                -1,
                "which self-attention layer, from 0; negative counts from the last (-1)",
                minimum=-1024,
                maximum=1023,
            ),
            Param(
                "head_fusion",
                "text",
                "mean",
                "how the heads combine",
                choices=HEAD_FUSIONS,
            ),
        ),
        description="a vision transformer's class-token attention over the patches at one "
        "layer; class-agnostic",
        passes=_forward,
        chunks=False,
    ),
    "attention_rollout": ExplainerSpec(
        name="attention_rollout",
        function=attention_rollout,
        params=(
            Param("head_fusion", "text", "mean", "how the heads combine", choices=HEAD_FUSIONS),
        ),
        description="attention multiplied through the layers with the residual as identity "
        "(Abnar & Zuidema 2020); class-agnostic",
        passes=_forward,
        chunks=False,
    ),
    "class_model_visualization": ExplainerSpec(
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
    ),
    "lrp": LRP,
    "lime": LIME,
    "kernel_shap": KERNEL_SHAP,
    "rise": RISE,
    "gradient_shap": GRADIENT_SHAP,
    "feature_ablation": FEATURE_ABLATION,
    "shapley_sampling": SHAPLEY_SAMPLING,
}
