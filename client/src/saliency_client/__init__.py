"""Python client of saliency-service: explain and attack image classifiers over gRPC.

    with SaliencyClient("localhost:50051") as client:
        (result,) = client.explain(image, model="resnet18", method="grad_cam")
        save_overlay("cam.png", image, result.explanations[0].heatmap)

Needs only grpcio, protobuf and numpy.
"""

from importlib import metadata as _metadata

from saliency_client._channel import tls_credentials
from saliency_client._requests import ExplainJob
from saliency_client.async_client import AsyncSaliencyClient
from saliency_client.client import SaliencyClient
from saliency_client.errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    SaliencyError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
)
from saliency_client.overlay import overlay_heatmap, save_image, save_overlay
from saliency_client.png import decode_png, encode_png
from saliency_client.results import (
    AccuracyCurve,
    AssessReport,
    AttackResult,
    AutoAttackResult,
    AutoAttackStage,
    ClassExplanation,
    ClassScore,
    EvaluateReport,
    ExplainResult,
    ExplainStreamResult,
    MethodAssessment,
    MethodInfo,
    MetricInfo,
    MetricResult,
    ModelInfo,
    ParamSpec,
    Prediction,
    SaliencyStability,
)

try:
    __version__ = _metadata.version("saliency-client")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "Aborted",
    "AccuracyCurve",
    "AlreadyExists",
    "AssessReport",
    "AsyncSaliencyClient",
    "AttackResult",
    "AutoAttackResult",
    "AutoAttackStage",
    "Cancelled",
    "ClassExplanation",
    "ClassScore",
    "DataLoss",
    "DeadlineExceeded",
    "decode_png",
    "encode_png",
    "EvaluateReport",
    "ExplainJob",
    "ExplainResult",
    "ExplainStreamResult",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "MethodAssessment",
    "MethodInfo",
    "MetricInfo",
    "MetricResult",
    "ModelInfo",
    "NotFound",
    "OutOfRange",
    "overlay_heatmap",
    "ParamSpec",
    "PermissionDenied",
    "Prediction",
    "ResourceExhausted",
    "SaliencyClient",
    "SaliencyError",
    "SaliencyStability",
    "save_image",
    "save_overlay",
    "tls_credentials",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
]
