"""Build and run the gRPC server: servicer, health, reflection, metrics, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from saliency_service.config import ServerConfig
from saliency_service.engine.pool import WorkerPool, visible_devices
from saliency_service.metrics import Metrics
from saliency_service.models.repository import ModelRepository
from saliency_service.transport.servicer import SaliencyServicer
from saliency_service.transport.status import ErrorInterceptor

log = logging.getLogger(__name__)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Saliency"].full_name


@dataclass
class RunningServer:
    """A started server and what it owns, so that it can be drained and stopped."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    pool: WorkerPool
    metrics: Metrics
    metrics_http: WSGIServer | None

    @property
    def metrics_port(self) -> int | None:
        return None if self.metrics_http is None else self.metrics_http.server_port

    async def stop(self, grace: float) -> None:
        """NOT_SERVING first (so probes and balancers move away), then drain and stop."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        self.pool.shutdown()
        if self.metrics_http is not None:
            self.metrics_http.shutdown()
            self.metrics_http.server_close()


async def create_server(
    config: ServerConfig, repository: ModelRepository | None = None
) -> RunningServer:
    """Load the repository (unless given), bind `config.host:config.port` and start serving.

    Port 0 binds a free port; the bound one is in the result.
    """
    devices = visible_devices(config.devices)
    if repository is None:
        repository = await asyncio.to_thread(ModelRepository.load, config.repository, devices[0])
    metrics = Metrics()
    for name in repository.names():
        metrics.onnx_gap.labels(name).set(repository.get(name).onnx_max_abs_gap)
    pool = WorkerPool(devices)
    limits = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
    ]
    server = grpc.aio.server(interceptors=[ErrorInterceptor()], options=limits)
    pb_grpc.add_SaliencyServicer_to_server(
        SaliencyServicer(repository, pool, config, metrics), server
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    port = server.add_insecure_port(f"{config.host}:{config.port}")
    await server.start()
    for service in ("", SERVICE_NAME):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    metrics_http = metrics.serve(config.metrics_port) if config.metrics_port else None
    log.info(
        "serving %s on port %d (models: %s)", SERVICE_NAME, port, ", ".join(repository.names())
    )
    return RunningServer(server, port, health_servicer, pool, metrics, metrics_http)


async def serve(config: ServerConfig) -> None:
    """Serve until SIGTERM or SIGINT, then drain within `config.grace_period_s`."""
    running = await create_server(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("draining for up to %.0f s", config.grace_period_s)
    await running.stop(config.grace_period_s)
