"""The explainer registry: proto enum short name → the method's record.

`EXPLAIN_METHOD_VANILLA_GRADIENT` is "vanilla_gradient", and so on. Each record
(`ExplainerSpec`) is defined at the end of its method's module; every function is called as
`function(model, images, targets, chunk_size=…, **resolved_params)`. Tests parametrize over this
dict, so a new entry gets the shared checks.
"""

from __future__ import annotations

from saliency_service.explainers.attention import ATTENTION
from saliency_service.explainers.attention_rollout import ATTENTION_ROLLOUT
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.explainers.cam import CAM
from saliency_service.explainers.class_model import CLASS_MODEL_VISUALIZATION
from saliency_service.explainers.deeplift import DEEPLIFT
from saliency_service.explainers.eigen_cam import EIGEN_CAM
from saliency_service.explainers.feature_ablation import FEATURE_ABLATION
from saliency_service.explainers.grad_cam import GRAD_CAM
from saliency_service.explainers.grad_cam_plus_plus import GRAD_CAM_PLUS_PLUS
from saliency_service.explainers.gradient_shap import GRADIENT_SHAP
from saliency_service.explainers.gradients import (
    INPUT_X_GRADIENT,
    SQUARED_GRADIENT,
    VANILLA_GRADIENT,
)
from saliency_service.explainers.guided_backprop import DECONVNET, GUIDED_BACKPROP
from saliency_service.explainers.guided_grad_cam import GUIDED_GRAD_CAM
from saliency_service.explainers.hires_cam import HIRES_CAM
from saliency_service.explainers.integrated_gradients import INTEGRATED_GRADIENTS
from saliency_service.explainers.kernel_shap import KERNEL_SHAP
from saliency_service.explainers.layer_cam import LAYER_CAM
from saliency_service.explainers.lime import LIME
from saliency_service.explainers.lrp import LRP
from saliency_service.explainers.occlusion import OCCLUSION
from saliency_service.explainers.rise import RISE
from saliency_service.explainers.score_cam import SCORE_CAM
from saliency_service.explainers.shapley_sampling import SHAPLEY_SAMPLING
from saliency_service.explainers.smoothgrad import SMOOTHGRAD, SMOOTHGRAD_SQUARED, VARGRAD
from saliency_service.explainers.xgrad_cam import XGRAD_CAM

EXPLAINERS: dict[str, ExplainerSpec] = {
    "vanilla_gradient": VANILLA_GRADIENT,
    "squared_gradient": SQUARED_GRADIENT,
    "input_x_gradient": INPUT_X_GRADIENT,
    "smoothgrad": SMOOTHGRAD,
    "smoothgrad_squared": SMOOTHGRAD_SQUARED,
    "vargrad": VARGRAD,
    "integrated_gradients": INTEGRATED_GRADIENTS,
    "guided_backprop": GUIDED_BACKPROP,
    "deconvnet": DECONVNET,
    "deeplift": DEEPLIFT,
    "occlusion": OCCLUSION,
    "cam": CAM,
    "grad_cam": GRAD_CAM,
    "grad_cam_plus_plus": GRAD_CAM_PLUS_PLUS,
    "layer_cam": LAYER_CAM,
    "hires_cam": HIRES_CAM,
    "xgrad_cam": XGRAD_CAM,
    "score_cam": SCORE_CAM,
    "eigen_cam": EIGEN_CAM,
    "guided_grad_cam": GUIDED_GRAD_CAM,
    "attention": ATTENTION,
    "attention_rollout": ATTENTION_ROLLOUT,
    "class_model_visualization": CLASS_MODEL_VISUALIZATION,
    "lrp": LRP,
    "lime": LIME,
    "kernel_shap": KERNEL_SHAP,
    "rise": RISE,
    "gradient_shap": GRADIENT_SHAP,
    "feature_ablation": FEATURE_ABLATION,
    "shapley_sampling": SHAPLEY_SAMPLING,
}
