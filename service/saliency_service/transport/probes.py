"""A plain-text port that serves only grpc.health.v1, for Kubernetes' gRPC probes.

kubelet's native gRPC probes speak neither TLS nor mutual TLS, so with TLS on they cannot reach
the main port. This port carries health alone, so it opens no way around TLS or auth; it shares
the main server's health servicer, so it turns NOT_SERVING the moment a drain starts.
"""

from __future__ import annotations

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2_grpc


async def start_probe_server(
    servicer: health.aio.HealthServicer, host: str, port: int
) -> tuple[grpc.aio.Server, int]:
    """Serve `servicer` in plain text on `host:port` (0 = a free port); return it and the port."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server, bound
