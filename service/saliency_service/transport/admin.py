"""The `saliency.v1.Admin` servicer: reload the repository's models while serving.

Its token check is security.py's `AdminInterceptor`; here the request is converted, the work
delegated to operations, and the changes converted back.
"""

from __future__ import annotations

from typing import Any

from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from saliency_service.errors import InvalidRequest
from saliency_service.metrics import Metrics
from saliency_service.operations.service import Operations
from saliency_service.transport import responses
from saliency_service.transport.observation import Observation

MAX_NAMES = 1024
MAX_NAME_CHARS = 128


class AdminServicer(pb_grpc.AdminServicer):
    """Thin handlers over `Operations.reload`."""

    def __init__(self, operations: Operations, metrics: Metrics) -> None:
        self.ops = operations
        self.metrics = metrics

    async def ReloadModels(self, request: pb.ReloadModelsRequest, context: Any) -> Any:
        with Observation(self.metrics, "ReloadModels", "", ""):
            names = list(request.models)
            if len(names) > MAX_NAMES or any(len(n) > MAX_NAME_CHARS for n in names):
                raise InvalidRequest(
                    f"name at most {MAX_NAMES} models of at most {MAX_NAME_CHARS} characters"
                )
            return responses.reload_response(await self.ops.reload(names))
