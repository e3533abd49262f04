from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_UINT8: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]

class ExplainMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPLAIN_METHOD_UNSPECIFIED: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_VANILLA_GRADIENT: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_SQUARED_GRADIENT: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_INPUT_X_GRADIENT: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_SMOOTHGRAD: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_SMOOTHGRAD_SQUARED: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_VARGRAD: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_INTEGRATED_GRADIENTS: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_GUIDED_BACKPROP: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_DECONVNET: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_CAM: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_GRAD_CAM: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_GRAD_CAM_PLUS_PLUS: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_LAYER_CAM: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_HIRES_CAM: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_XGRAD_CAM: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_SCORE_CAM: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_EIGEN_CAM: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_GUIDED_GRAD_CAM: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_DEEPLIFT: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_ATTENTION: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_ATTENTION_ROLLOUT: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_OCCLUSION: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_CLASS_MODEL_VISUALIZATION: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_LRP: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_LIME: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_KERNEL_SHAP: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_RISE: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_GRADIENT_SHAP: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_FEATURE_ABLATION: _ClassVar[ExplainMethod]
    EXPLAIN_METHOD_SHAPLEY_SAMPLING: _ClassVar[ExplainMethod]

class AttackMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTACK_METHOD_UNSPECIFIED: _ClassVar[AttackMethod]
    ATTACK_METHOD_FGSM: _ClassVar[AttackMethod]
    ATTACK_METHOD_BIM: _ClassVar[AttackMethod]
    ATTACK_METHOD_PGD: _ClassVar[AttackMethod]
    ATTACK_METHOD_PGD_L2: _ClassVar[AttackMethod]
    ATTACK_METHOD_MI_FGSM: _ClassVar[AttackMethod]
    ATTACK_METHOD_DEEPFOOL: _ClassVar[AttackMethod]
    ATTACK_METHOD_CW_L2: _ClassVar[AttackMethod]
    ATTACK_METHOD_MINIMAL_EPSILON: _ClassVar[AttackMethod]
    ATTACK_METHOD_APGD_CE: _ClassVar[AttackMethod]
    ATTACK_METHOD_APGD_T: _ClassVar[AttackMethod]
    ATTACK_METHOD_FAB_T: _ClassVar[AttackMethod]
    ATTACK_METHOD_SQUARE: _ClassVar[AttackMethod]
    ATTACK_METHOD_AUTOATTACK: _ClassVar[AttackMethod]
    ATTACK_METHOD_SIMBA: _ClassVar[AttackMethod]

class AssessmentMetric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASSESSMENT_METRIC_UNSPECIFIED: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_DELETION: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_INSERTION: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_ROAD: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_INFIDELITY: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_FAITHFULNESS_CORRELATION: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_MODEL_RANDOMISATION: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_RANDOM_LOGIT: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_MAX_SENSITIVITY: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_LOCAL_LIPSCHITZ: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_POINTING_GAME: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_RELEVANCE_MASS: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_RELEVANCE_RANK: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_ENERGY_POINTING_GAME: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_SPARSENESS: _ClassVar[AssessmentMetric]
    ASSESSMENT_METRIC_ENTROPY: _ClassVar[AssessmentMetric]
DTYPE_UNSPECIFIED: DType
DTYPE_UINT8: DType
DTYPE_FLOAT32: DType
EXPLAIN_METHOD_UNSPECIFIED: ExplainMethod
EXPLAIN_METHOD_VANILLA_GRADIENT: ExplainMethod
EXPLAIN_METHOD_SQUARED_GRADIENT: ExplainMethod
EXPLAIN_METHOD_INPUT_X_GRADIENT: ExplainMethod
EXPLAIN_METHOD_SMOOTHGRAD: ExplainMethod
EXPLAIN_METHOD_SMOOTHGRAD_SQUARED: ExplainMethod
EXPLAIN_METHOD_VARGRAD: ExplainMethod
EXPLAIN_METHOD_INTEGRATED_GRADIENTS: ExplainMethod
EXPLAIN_METHOD_GUIDED_BACKPROP: ExplainMethod
EXPLAIN_METHOD_DECONVNET: ExplainMethod
EXPLAIN_METHOD_CAM: ExplainMethod
EXPLAIN_METHOD_GRAD_CAM: ExplainMethod
EXPLAIN_METHOD_GRAD_CAM_PLUS_PLUS: ExplainMethod
EXPLAIN_METHOD_LAYER_CAM: ExplainMethod
EXPLAIN_METHOD_HIRES_CAM: ExplainMethod
EXPLAIN_METHOD_XGRAD_CAM: ExplainMethod
EXPLAIN_METHOD_SCORE_CAM: ExplainMethod
EXPLAIN_METHOD_EIGEN_CAM: ExplainMethod
EXPLAIN_METHOD_GUIDED_GRAD_CAM: ExplainMethod
EXPLAIN_METHOD_DEEPLIFT: ExplainMethod
EXPLAIN_METHOD_ATTENTION: ExplainMethod
EXPLAIN_METHOD_ATTENTION_ROLLOUT: ExplainMethod
EXPLAIN_METHOD_OCCLUSION: ExplainMethod
EXPLAIN_METHOD_CLASS_MODEL_VISUALIZATION: ExplainMethod
EXPLAIN_METHOD_LRP: ExplainMethod
EXPLAIN_METHOD_LIME: ExplainMethod
EXPLAIN_METHOD_KERNEL_SHAP: ExplainMethod
EXPLAIN_METHOD_RISE: ExplainMethod
EXPLAIN_METHOD_GRADIENT_SHAP: ExplainMethod
EXPLAIN_METHOD_FEATURE_ABLATION: ExplainMethod
EXPLAIN_METHOD_SHAPLEY_SAMPLING: ExplainMethod
ATTACK_METHOD_UNSPECIFIED: AttackMethod
ATTACK_METHOD_FGSM: AttackMethod
ATTACK_METHOD_BIM: AttackMethod
ATTACK_METHOD_PGD: AttackMethod
ATTACK_METHOD_PGD_L2: AttackMethod
ATTACK_METHOD_MI_FGSM: AttackMethod
ATTACK_METHOD_DEEPFOOL: AttackMethod
ATTACK_METHOD_CW_L2: AttackMethod
ATTACK_METHOD_MINIMAL_EPSILON: AttackMethod
ATTACK_METHOD_APGD_CE: AttackMethod
ATTACK_METHOD_APGD_T: AttackMethod
ATTACK_METHOD_FAB_T: AttackMethod
ATTACK_METHOD_SQUARE: AttackMethod
ATTACK_METHOD_AUTOATTACK: AttackMethod
ATTACK_METHOD_SIMBA: AttackMethod
ASSESSMENT_METRIC_UNSPECIFIED: AssessmentMetric
ASSESSMENT_METRIC_DELETION: AssessmentMetric
ASSESSMENT_METRIC_INSERTION: AssessmentMetric
ASSESSMENT_METRIC_ROAD: AssessmentMetric
ASSESSMENT_METRIC_INFIDELITY: AssessmentMetric
ASSESSMENT_METRIC_FAITHFULNESS_CORRELATION: AssessmentMetric
ASSESSMENT_METRIC_MODEL_RANDOMISATION: AssessmentMetric
ASSESSMENT_METRIC_RANDOM_LOGIT: AssessmentMetric
ASSESSMENT_METRIC_MAX_SENSITIVITY: AssessmentMetric
ASSESSMENT_METRIC_LOCAL_LIPSCHITZ: AssessmentMetric
ASSESSMENT_METRIC_POINTING_GAME: AssessmentMetric
ASSESSMENT_METRIC_RELEVANCE_MASS: AssessmentMetric
ASSESSMENT_METRIC_RELEVANCE_RANK: AssessmentMetric
ASSESSMENT_METRIC_ENERGY_POINTING_GAME: AssessmentMetric
ASSESSMENT_METRIC_SPARSENESS: AssessmentMetric
ASSESSMENT_METRIC_ENTROPY: AssessmentMetric

class ReloadModelsRequest(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[str]] = ...) -> None: ...

class ModelChange(_message.Message):
    __slots__ = ("model", "version", "action", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    action: str
    reason: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., action: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReloadModelsResponse(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[ModelChange]
    def __init__(self, changes: _Optional[_Iterable[_Union[ModelChange, _Mapping]]] = ...) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("shape", "dtype", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: DType
    data: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[_Union[DType, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("encoded", "pixels")
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    PIXELS_FIELD_NUMBER: _ClassVar[int]
    encoded: bytes
    pixels: Tensor
    def __init__(self, encoded: _Optional[bytes] = ..., pixels: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("number", "text", "flag", "tensor")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    number: float
    text: str
    flag: bool
    tensor: Tensor
    def __init__(self, number: _Optional[float] = ..., text: _Optional[str] = ..., flag: _Optional[bool] = ..., tensor: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "architecture", "input_height", "input_width", "input_channels", "mean", "std", "labels", "default_cam_layer", "layers", "onnx_max_abs_logit_gap", "onnx_max_rel_logit_gap", "device", "ready", "status", "pass_seconds", "version", "is_default_version", "revision", "loaded_unix_s", "forward_only", "instances", "max_batch_size", "max_queue_delay_ms", "autocast")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    INPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    INPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    INPUT_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CAM_LAYER_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    ONNX_MAX_ABS_LOGIT_GAP_FIELD_NUMBER: _ClassVar[int]
    ONNX_MAX_REL_LOGIT_GAP_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PASS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    LOADED_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    FORWARD_ONLY_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    AUTOCAST_FIELD_NUMBER: _ClassVar[int]
    name: str
    architecture: str
    input_height: int
    input_width: int
    input_channels: int
    mean: _containers.RepeatedScalarFieldContainer[float]
    std: _containers.RepeatedScalarFieldContainer[float]
    labels: _containers.RepeatedScalarFieldContainer[str]
    default_cam_layer: str
    layers: _containers.RepeatedScalarFieldContainer[str]
    onnx_max_abs_logit_gap: float
    onnx_max_rel_logit_gap: float
    device: str
    ready: bool
    status: str
    pass_seconds: float
    version: str
    is_default_version: bool
    revision: str
    loaded_unix_s: float
    forward_only: bool
    instances: int
    max_batch_size: int
    max_queue_delay_ms: float
    autocast: str
    def __init__(self, name: _Optional[str] = ..., architecture: _Optional[str] = ..., input_height: _Optional[int] = ..., input_width: _Optional[int] = ..., input_channels: _Optional[int] = ..., mean: _Optional[_Iterable[float]] = ..., std: _Optional[_Iterable[float]] = ..., labels: _Optional[_Iterable[str]] = ..., default_cam_layer: _Optional[str] = ..., layers: _Optional[_Iterable[str]] = ..., onnx_max_abs_logit_gap: _Optional[float] = ..., onnx_max_rel_logit_gap: _Optional[float] = ..., device: _Optional[str] = ..., ready: _Optional[bool] = ..., status: _Optional[str] = ..., pass_seconds: _Optional[float] = ..., version: _Optional[str] = ..., is_default_version: _Optional[bool] = ..., revision: _Optional[str] = ..., loaded_unix_s: _Optional[float] = ..., forward_only: _Optional[bool] = ..., instances: _Optional[int] = ..., max_batch_size: _Optional[int] = ..., max_queue_delay_ms: _Optional[float] = ..., autocast: _Optional[str] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_items_per_request", "max_request_seconds", "max_message_bytes", "max_image_pixels", "max_queue_size", "max_queued_seconds", "tenant_share", "slice_ms")
    MAX_ITEMS_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TENANT_SHARE_FIELD_NUMBER: _ClassVar[int]
    SLICE_MS_FIELD_NUMBER: _ClassVar[int]
    max_items_per_request: int
    max_request_seconds: float
    max_message_bytes: int
    max_image_pixels: int
    max_queue_size: int
    max_queued_seconds: float
    tenant_share: float
    slice_ms: float
    def __init__(self, max_items_per_request: _Optional[int] = ..., max_request_seconds: _Optional[float] = ..., max_message_bytes: _Optional[int] = ..., max_image_pixels: _Optional[int] = ..., max_queue_size: _Optional[int] = ..., max_queued_seconds: _Optional[float] = ..., tenant_share: _Optional[float] = ..., slice_ms: _Optional[float] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class GetModelResponse(_message.Message):
    __slots__ = ("model", "limits")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    model: ModelInfo
    limits: Limits
    def __init__(self, model: _Optional[_Union[ModelInfo, _Mapping]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ...) -> None: ...

class ParamSpec(_message.Message):
    __slots__ = ("name", "type", "default", "minimum", "maximum", "choices", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    default: Value
    minimum: float
    maximum: float
    choices: _containers.RepeatedScalarFieldContainer[str]
    description: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., default: _Optional[_Union[Value, _Mapping]] = ..., minimum: _Optional[float] = ..., maximum: _Optional[float] = ..., choices: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ...) -> None: ...

class MethodInfo(_message.Message):
    __slots__ = ("name", "explain", "attack", "description", "params")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    explain: ExplainMethod
    attack: AttackMethod
    description: str
    params: _containers.RepeatedCompositeFieldContainer[ParamSpec]
    def __init__(self, name: _Optional[str] = ..., explain: _Optional[_Union[ExplainMethod, str]] = ..., attack: _Optional[_Union[AttackMethod, str]] = ..., description: _Optional[str] = ..., params: _Optional[_Iterable[_Union[ParamSpec, _Mapping]]] = ...) -> None: ...

class ListMethodsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMethodsResponse(_message.Message):
    __slots__ = ("methods", "limits", "metrics")
    METHODS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    methods: _containers.RepeatedCompositeFieldContainer[MethodInfo]
    limits: Limits
    metrics: _containers.RepeatedCompositeFieldContainer[MetricInfo]
    def __init__(self, methods: _Optional[_Iterable[_Union[MethodInfo, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., metrics: _Optional[_Iterable[_Union[MetricInfo, _Mapping]]] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("model", "images", "top_k", "priority", "model_version")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    images: _containers.RepeatedCompositeFieldContainer[Image]
    top_k: int
    priority: int
    model_version: str
    def __init__(self, model: _Optional[str] = ..., images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., top_k: _Optional[int] = ..., priority: _Optional[int] = ..., model_version: _Optional[str] = ...) -> None: ...

class ClassScore(_message.Message):
    __slots__ = ("index", "label", "logit", "probability")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LOGIT_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    index: int
    label: str
    logit: float
    probability: float
    def __init__(self, index: _Optional[int] = ..., label: _Optional[str] = ..., logit: _Optional[float] = ..., probability: _Optional[float] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("error", "top")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    error: ItemError
    top: _containers.RepeatedCompositeFieldContainer[ClassScore]
    def __init__(self, error: _Optional[_Union[ItemError, _Mapping]] = ..., top: _Optional[_Iterable[_Union[ClassScore, _Mapping]]] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("predictions", "model_version")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    model_version: str
    def __init__(self, predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ..., model_version: _Optional[str] = ...) -> None: ...

class ExplainItem(_message.Message):
    __slots__ = ("image", "targets", "top_k")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    image: Image
    targets: _containers.RepeatedScalarFieldContainer[int]
    top_k: int
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., targets: _Optional[_Iterable[int]] = ..., top_k: _Optional[int] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("model", "method", "items", "params", "priority", "model_version")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    method: ExplainMethod
    items: _containers.RepeatedCompositeFieldContainer[ExplainItem]
    params: _containers.MessageMap[str, Value]
    priority: int
    model_version: str
    def __init__(self, model: _Optional[str] = ..., method: _Optional[_Union[ExplainMethod, str]] = ..., items: _Optional[_Iterable[_Union[ExplainItem, _Mapping]]] = ..., params: _Optional[_Mapping[str, Value]] = ..., priority: _Optional[int] = ..., model_version: _Optional[str] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("x0", "y0", "x1", "y1")
    X0_FIELD_NUMBER: _ClassVar[int]
    Y0_FIELD_NUMBER: _ClassVar[int]
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    x0: int
    y0: int
    x1: int
    y1: int
    def __init__(self, x0: _Optional[int] = ..., y0: _Optional[int] = ..., x1: _Optional[int] = ..., y1: _Optional[int] = ...) -> None: ...

class ClassExplanation(_message.Message):
    __slots__ = ("target", "label", "heatmap", "attributions", "image", "diagnostics", "box", "mask")
    class DiagnosticsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TARGET_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    HEATMAP_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    target: int
    label: str
    heatmap: Tensor
    attributions: Tensor
    image: Tensor
    diagnostics: _containers.ScalarMap[str, float]
    box: BoundingBox
    mask: Tensor
    def __init__(self, target: _Optional[int] = ..., label: _Optional[str] = ..., heatmap: _Optional[_Union[Tensor, _Mapping]] = ..., attributions: _Optional[_Union[Tensor, _Mapping]] = ..., image: _Optional[_Union[Tensor, _Mapping]] = ..., diagnostics: _Optional[_Mapping[str, float]] = ..., box: _Optional[_Union[BoundingBox, _Mapping]] = ..., mask: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class ExplainResult(_message.Message):
    __slots__ = ("error", "predicted_class", "predicted_label", "explanations")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_CLASS_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_LABEL_FIELD_NUMBER: _ClassVar[int]
    EXPLANATIONS_FIELD_NUMBER: _ClassVar[int]
    error: ItemError
    predicted_class: int
    predicted_label: str
    explanations: _containers.RepeatedCompositeFieldContainer[ClassExplanation]
    def __init__(self, error: _Optional[_Union[ItemError, _Mapping]] = ..., predicted_class: _Optional[int] = ..., predicted_label: _Optional[str] = ..., explanations: _Optional[_Iterable[_Union[ClassExplanation, _Mapping]]] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("results", "model_version")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ExplainResult]
    model_version: str
    def __init__(self, results: _Optional[_Iterable[_Union[ExplainResult, _Mapping]]] = ..., model_version: _Optional[str] = ...) -> None: ...

class ExplainStreamRequest(_message.Message):
    __slots__ = ("request_id", "request")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    request: ExplainRequest
    def __init__(self, request_id: _Optional[str] = ..., request: _Optional[_Union[ExplainRequest, _Mapping]] = ...) -> None: ...

class ExplainStreamResponse(_message.Message):
    __slots__ = ("request_id", "error", "response")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    error: ItemError
    response: ExplainResponse
    def __init__(self, request_id: _Optional[str] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ..., response: _Optional[_Union[ExplainResponse, _Mapping]] = ...) -> None: ...

class AttackItem(_message.Message):
    __slots__ = ("image", "label", "target_class", "eps")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_CLASS_FIELD_NUMBER: _ClassVar[int]
    EPS_FIELD_NUMBER: _ClassVar[int]
    image: Image
    label: int
    target_class: int
    eps: float
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., label: _Optional[int] = ..., target_class: _Optional[int] = ..., eps: _Optional[float] = ...) -> None: ...

class AttackRequest(_message.Message):
    __slots__ = ("model", "method", "items", "params", "priority", "model_version")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    method: AttackMethod
    items: _containers.RepeatedCompositeFieldContainer[AttackItem]
    params: _containers.MessageMap[str, Value]
    priority: int
    model_version: str
    def __init__(self, model: _Optional[str] = ..., method: _Optional[_Union[AttackMethod, str]] = ..., items: _Optional[_Iterable[_Union[AttackItem, _Mapping]]] = ..., params: _Optional[_Mapping[str, Value]] = ..., priority: _Optional[int] = ..., model_version: _Optional[str] = ...) -> None: ...

class AttackResult(_message.Message):
    __slots__ = ("error", "adversarial", "label_before", "label_after_torch", "label_after_onnx", "success", "engines_agree", "linf", "l2", "target_class", "eps")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ADVERSARIAL_FIELD_NUMBER: _ClassVar[int]
    LABEL_BEFORE_FIELD_NUMBER: _ClassVar[int]
    LABEL_AFTER_TORCH_FIELD_NUMBER: _ClassVar[int]
    LABEL_AFTER_ONNX_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ENGINES_AGREE_FIELD_NUMBER: _ClassVar[int]
    LINF_FIELD_NUMBER: _ClassVar[int]
    L2_FIELD_NUMBER: _ClassVar[int]
    TARGET_CLASS_FIELD_NUMBER: _ClassVar[int]
    EPS_FIELD_NUMBER: _ClassVar[int]
    error: ItemError
    adversarial: Tensor
    label_before: int
    label_after_torch: int
    label_after_onnx: int
    success: bool
    engines_agree: bool
    linf: float
    l2: float
    target_class: int
    eps: float
    def __init__(self, error: _Optional[_Union[ItemError, _Mapping]] = ..., adversarial: _Optional[_Union[Tensor, _Mapping]] = ..., label_before: _Optional[int] = ..., label_after_torch: _Optional[int] = ..., label_after_onnx: _Optional[int] = ..., success: _Optional[bool] = ..., engines_agree: _Optional[bool] = ..., linf: _Optional[float] = ..., l2: _Optional[float] = ..., target_class: _Optional[int] = ..., eps: _Optional[float] = ...) -> None: ...

class AttackResponse(_message.Message):
    __slots__ = ("results", "model_version")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AttackResult]
    model_version: str
    def __init__(self, results: _Optional[_Iterable[_Union[AttackResult, _Mapping]]] = ..., model_version: _Optional[str] = ...) -> None: ...

class LabelledImage(_message.Message):
    __slots__ = ("image", "label")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    image: Image
    label: int
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., label: _Optional[int] = ...) -> None: ...

class AttackSpec(_message.Message):
    __slots__ = ("method", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    method: AttackMethod
    params: _containers.MessageMap[str, Value]
    def __init__(self, method: _Optional[_Union[AttackMethod, str]] = ..., params: _Optional[_Mapping[str, Value]] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("model", "items", "attacks", "epsilons", "stability_methods", "priority", "model_version", "autoattack")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ATTACKS_FIELD_NUMBER: _ClassVar[int]
    EPSILONS_FIELD_NUMBER: _ClassVar[int]
    STABILITY_METHODS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    AUTOATTACK_FIELD_NUMBER: _ClassVar[int]
    model: str
    items: _containers.RepeatedCompositeFieldContainer[LabelledImage]
    attacks: _containers.RepeatedCompositeFieldContainer[AttackSpec]
    epsilons: _containers.RepeatedScalarFieldContainer[float]
    stability_methods: _containers.RepeatedScalarFieldContainer[ExplainMethod]
    priority: int
    model_version: str
    autoattack: AutoAttackOptions
    def __init__(self, model: _Optional[str] = ..., items: _Optional[_Iterable[_Union[LabelledImage, _Mapping]]] = ..., attacks: _Optional[_Iterable[_Union[AttackSpec, _Mapping]]] = ..., epsilons: _Optional[_Iterable[float]] = ..., stability_methods: _Optional[_Iterable[_Union[ExplainMethod, str]]] = ..., priority: _Optional[int] = ..., model_version: _Optional[str] = ..., autoattack: _Optional[_Union[AutoAttackOptions, _Mapping]] = ...) -> None: ...

class AutoAttackOptions(_message.Message):
    __slots__ = ("attacks", "epsilons")
    ATTACKS_FIELD_NUMBER: _ClassVar[int]
    EPSILONS_FIELD_NUMBER: _ClassVar[int]
    attacks: _containers.RepeatedCompositeFieldContainer[AttackSpec]
    epsilons: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, attacks: _Optional[_Iterable[_Union[AttackSpec, _Mapping]]] = ..., epsilons: _Optional[_Iterable[float]] = ...) -> None: ...

class AutoAttackStage(_message.Message):
    __slots__ = ("attack", "attacked", "broken", "robust_accuracy")
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    ATTACKED_FIELD_NUMBER: _ClassVar[int]
    BROKEN_FIELD_NUMBER: _ClassVar[int]
    ROBUST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    attack: AttackMethod
    attacked: int
    broken: int
    robust_accuracy: float
    def __init__(self, attack: _Optional[_Union[AttackMethod, str]] = ..., attacked: _Optional[int] = ..., broken: _Optional[int] = ..., robust_accuracy: _Optional[float] = ...) -> None: ...

class AutoAttackResult(_message.Message):
    __slots__ = ("eps", "robust_accuracy", "onnx_robust_accuracy", "stages", "robust", "broken_by")
    EPS_FIELD_NUMBER: _ClassVar[int]
    ROBUST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ONNX_ROBUST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    ROBUST_FIELD_NUMBER: _ClassVar[int]
    BROKEN_BY_FIELD_NUMBER: _ClassVar[int]
    eps: float
    robust_accuracy: float
    onnx_robust_accuracy: float
    stages: _containers.RepeatedCompositeFieldContainer[AutoAttackStage]
    robust: _containers.RepeatedScalarFieldContainer[bool]
    broken_by: _containers.RepeatedScalarFieldContainer[AttackMethod]
    def __init__(self, eps: _Optional[float] = ..., robust_accuracy: _Optional[float] = ..., onnx_robust_accuracy: _Optional[float] = ..., stages: _Optional[_Iterable[_Union[AutoAttackStage, _Mapping]]] = ..., robust: _Optional[_Iterable[bool]] = ..., broken_by: _Optional[_Iterable[_Union[AttackMethod, str]]] = ...) -> None: ...

class AccuracyCurve(_message.Message):
    __slots__ = ("attack", "epsilons", "accuracy", "onnx_accuracy")
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    EPSILONS_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ONNX_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    attack: AttackMethod
    epsilons: _containers.RepeatedScalarFieldContainer[float]
    accuracy: _containers.RepeatedScalarFieldContainer[float]
    onnx_accuracy: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, attack: _Optional[_Union[AttackMethod, str]] = ..., epsilons: _Optional[_Iterable[float]] = ..., accuracy: _Optional[_Iterable[float]] = ..., onnx_accuracy: _Optional[_Iterable[float]] = ...) -> None: ...

class SaliencyStability(_message.Message):
    __slots__ = ("method", "attack", "eps", "spearman", "ssim", "mean_spearman", "mean_ssim")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ATTACK_FIELD_NUMBER: _ClassVar[int]
    EPS_FIELD_NUMBER: _ClassVar[int]
    SPEARMAN_FIELD_NUMBER: _ClassVar[int]
    SSIM_FIELD_NUMBER: _ClassVar[int]
    MEAN_SPEARMAN_FIELD_NUMBER: _ClassVar[int]
    MEAN_SSIM_FIELD_NUMBER: _ClassVar[int]
    method: ExplainMethod
    attack: AttackMethod
    eps: float
    spearman: _containers.RepeatedScalarFieldContainer[float]
    ssim: _containers.RepeatedScalarFieldContainer[float]
    mean_spearman: float
    mean_ssim: float
    def __init__(self, method: _Optional[_Union[ExplainMethod, str]] = ..., attack: _Optional[_Union[AttackMethod, str]] = ..., eps: _Optional[float] = ..., spearman: _Optional[_Iterable[float]] = ..., ssim: _Optional[_Iterable[float]] = ..., mean_spearman: _Optional[float] = ..., mean_ssim: _Optional[float] = ...) -> None: ...

class EvaluateReport(_message.Message):
    __slots__ = ("model_version", "clean_accuracy", "curves", "stability", "autoattack")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLEAN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    CURVES_FIELD_NUMBER: _ClassVar[int]
    STABILITY_FIELD_NUMBER: _ClassVar[int]
    AUTOATTACK_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    clean_accuracy: float
    curves: _containers.RepeatedCompositeFieldContainer[AccuracyCurve]
    stability: _containers.RepeatedCompositeFieldContainer[SaliencyStability]
    autoattack: _containers.RepeatedCompositeFieldContainer[AutoAttackResult]
    def __init__(self, model_version: _Optional[str] = ..., clean_accuracy: _Optional[float] = ..., curves: _Optional[_Iterable[_Union[AccuracyCurve, _Mapping]]] = ..., stability: _Optional[_Iterable[_Union[SaliencyStability, _Mapping]]] = ..., autoattack: _Optional[_Iterable[_Union[AutoAttackResult, _Mapping]]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("progress", "stage", "report")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    progress: float
    stage: str
    report: EvaluateReport
    def __init__(self, progress: _Optional[float] = ..., stage: _Optional[str] = ..., report: _Optional[_Union[EvaluateReport, _Mapping]] = ...) -> None: ...

class MetricInfo(_message.Message):
    __slots__ = ("name", "metric", "family", "description", "params", "higher_is_better", "needs_ground_truth", "per_map")
    NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    HIGHER_IS_BETTER_FIELD_NUMBER: _ClassVar[int]
    NEEDS_GROUND_TRUTH_FIELD_NUMBER: _ClassVar[int]
    PER_MAP_FIELD_NUMBER: _ClassVar[int]
    name: str
    metric: AssessmentMetric
    family: str
    description: str
    params: _containers.RepeatedCompositeFieldContainer[ParamSpec]
    higher_is_better: bool
    needs_ground_truth: bool
    per_map: bool
    def __init__(self, name: _Optional[str] = ..., metric: _Optional[_Union[AssessmentMetric, str]] = ..., family: _Optional[str] = ..., description: _Optional[str] = ..., params: _Optional[_Iterable[_Union[ParamSpec, _Mapping]]] = ..., higher_is_better: _Optional[bool] = ..., needs_ground_truth: _Optional[bool] = ..., per_map: _Optional[bool] = ...) -> None: ...

class AssessItem(_message.Message):
    __slots__ = ("image", "target", "mask", "boxes")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    image: Image
    target: int
    mask: Tensor
    boxes: _containers.RepeatedCompositeFieldContainer[BoundingBox]
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., target: _Optional[int] = ..., mask: _Optional[_Union[Tensor, _Mapping]] = ..., boxes: _Optional[_Iterable[_Union[BoundingBox, _Mapping]]] = ...) -> None: ...

class ExplainSpec(_message.Message):
    __slots__ = ("method", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    method: ExplainMethod
    params: _containers.MessageMap[str, Value]
    def __init__(self, method: _Optional[_Union[ExplainMethod, str]] = ..., params: _Optional[_Mapping[str, Value]] = ...) -> None: ...

class MetricSpec(_message.Message):
    __slots__ = ("metric", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    METRIC_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    metric: AssessmentMetric
    params: _containers.MessageMap[str, Value]
    def __init__(self, metric: _Optional[_Union[AssessmentMetric, str]] = ..., params: _Optional[_Mapping[str, Value]] = ...) -> None: ...

class AssessRequest(_message.Message):
    __slots__ = ("model", "items", "methods", "metrics", "priority", "model_version")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    items: _containers.RepeatedCompositeFieldContainer[AssessItem]
    methods: _containers.RepeatedCompositeFieldContainer[ExplainSpec]
    metrics: _containers.RepeatedCompositeFieldContainer[MetricSpec]
    priority: int
    model_version: str
    def __init__(self, model: _Optional[str] = ..., items: _Optional[_Iterable[_Union[AssessItem, _Mapping]]] = ..., methods: _Optional[_Iterable[_Union[ExplainSpec, _Mapping]]] = ..., metrics: _Optional[_Iterable[_Union[MetricSpec, _Mapping]]] = ..., priority: _Optional[int] = ..., model_version: _Optional[str] = ...) -> None: ...

class Curve(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class MetricResult(_message.Message):
    __slots__ = ("metric", "settings", "values", "mean", "higher_is_better", "curve_x", "curve_labels", "curves", "mean_curve")
    class SettingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    METRIC_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    HIGHER_IS_BETTER_FIELD_NUMBER: _ClassVar[int]
    CURVE_X_FIELD_NUMBER: _ClassVar[int]
    CURVE_LABELS_FIELD_NUMBER: _ClassVar[int]
    CURVES_FIELD_NUMBER: _ClassVar[int]
    MEAN_CURVE_FIELD_NUMBER: _ClassVar[int]
    metric: AssessmentMetric
    settings: _containers.MessageMap[str, Value]
    values: _containers.RepeatedScalarFieldContainer[float]
    mean: float
    higher_is_better: bool
    curve_x: _containers.RepeatedScalarFieldContainer[float]
    curve_labels: _containers.RepeatedScalarFieldContainer[str]
    curves: _containers.RepeatedCompositeFieldContainer[Curve]
    mean_curve: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, metric: _Optional[_Union[AssessmentMetric, str]] = ..., settings: _Optional[_Mapping[str, Value]] = ..., values: _Optional[_Iterable[float]] = ..., mean: _Optional[float] = ..., higher_is_better: _Optional[bool] = ..., curve_x: _Optional[_Iterable[float]] = ..., curve_labels: _Optional[_Iterable[str]] = ..., curves: _Optional[_Iterable[_Union[Curve, _Mapping]]] = ..., mean_curve: _Optional[_Iterable[float]] = ...) -> None: ...

class MethodAssessment(_message.Message):
    __slots__ = ("method", "params", "metrics")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    method: ExplainMethod
    params: _containers.MessageMap[str, Value]
    metrics: _containers.RepeatedCompositeFieldContainer[MetricResult]
    def __init__(self, method: _Optional[_Union[ExplainMethod, str]] = ..., params: _Optional[_Mapping[str, Value]] = ..., metrics: _Optional[_Iterable[_Union[MetricResult, _Mapping]]] = ...) -> None: ...

class AssessReport(_message.Message):
    __slots__ = ("targets", "methods", "model_version")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedScalarFieldContainer[int]
    methods: _containers.RepeatedCompositeFieldContainer[MethodAssessment]
    model_version: str
    def __init__(self, targets: _Optional[_Iterable[int]] = ..., methods: _Optional[_Iterable[_Union[MethodAssessment, _Mapping]]] = ..., model_version: _Optional[str] = ...) -> None: ...

class AssessResponse(_message.Message):
    __slots__ = ("progress", "stage", "report")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    progress: float
    stage: str
    report: AssessReport
    def __init__(self, progress: _Optional[float] = ..., stage: _Optional[str] = ..., report: _Optional[_Union[AssessReport, _Mapping]] = ...) -> None: ...
