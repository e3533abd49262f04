"""Build and run the gRPC server: servicer, health, reflection, metrics, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from saliency_client._proto.saliency.v1 import saliency_pb2 as pb
from saliency_client._proto.saliency.v1 import saliency_pb2_grpc as pb_grpc

from saliency_service.config import ServerConfig
from saliency_service.engine.engine import Engine
from saliency_service.engine.pool import visible_devices
from saliency_service.errors import ShuttingDown
from saliency_service.metrics import Metrics
from saliency_service.models.repository import ModelRepository
from saliency_service.operations.lifecycle import ModelLifecycle
from saliency_service.operations.service import Operations
from saliency_service.transport import security
from saliency_service.transport.admin import AdminServicer
from saliency_service.transport.probes import start_probe_server
from saliency_service.transport.servicer import SaliencyServicer
from saliency_service.transport.status import ErrorInterceptor

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
# How long past the grace period the server waits for calls it answered UNAVAILABLE to end.
ABORT_MARGIN_S = 5.0
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Saliency"].full_name
ADMIN_SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Admin"].full_name


@dataclass
class RunningServer:
    """A started server and what it owns, so that it can be drained and stopped."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    engine: Engine
    metrics: Metrics
    metrics_http: WSGIServer | None
    # The health-only port for kubelet's probes, when `probe_port` is set.
    probes: grpc.aio.Server | None = None
    # The repository poll, when `repository_poll_s` is set.
    watcher: asyncio.Task[None] | None = None

    @property
    def metrics_port(self) -> int | None:
        return None if self.metrics_http is None else self.metrics_http.server_port

    async def stop(self, grace: float) -> None:
        """NOT_SERVING first (so probes and balancers move away); new calls are refused while
        every call in flight gets `grace` seconds to finish; whatever is left is then answered
        UNAVAILABLE and stops at its next pass."""
        await self.health.enter_graceful_shutdown()
        if self.watcher is not None:
            self.watcher.cancel()
        stopping = asyncio.create_task(self.server.stop(grace + ABORT_MARGIN_S))
        done, _ = await asyncio.wait({stopping}, timeout=grace)
        if not done:
            self.engine.abort(ShuttingDown("the server is shutting down"))
        await stopping
        await self.engine.stop()
        if self.probes is not None:
            await self.probes.stop(0)
        if self.metrics_http is not None:
            self.metrics_http.shutdown()
            self.metrics_http.server_close()


async def create_server(
    config: ServerConfig, repository: ModelRepository | None = None
) -> RunningServer:
    """Load the repository (unless given), bind `config.host:config.port` and start serving.

    Port 0 binds a free port; the bound one is in the result.
    """
    # Read TLS files and tokens before the (slow) model load, so a bad one fails at once.
    credentials = security.server_credentials(config)
    auth = security.interceptors(config)
    devices = visible_devices(config.devices)
    if repository is None:
        repository = await _in_daemon_thread(
            ModelRepository.load,
            config.repository,
            devices[0],
            trust_torchscript=config.trust_torchscript,
        )
    metrics = Metrics()
    models = repository.served()
    for model in models:
        metrics.onnx_gap.labels(model.config.name).set(model.onnx_max_abs_gap)
    engine = await Engine.start(config, models, devices, metrics)
    lifecycle = ModelLifecycle(
        repository, engine, metrics, devices[0], trust_torchscript=config.trust_torchscript
    )
    limits = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        # Clients reconnect, and so re-resolve a headless Service's DNS name, at least this
        # often: new pods (scale-up) get traffic without waiting for an old one to fail.
        # Calls in flight on the old connection still finish.
        ("grpc.max_connection_age_ms", 5 * 60 * 1000),
    ]
    # Auth first: a call without a token is refused before anything else runs.
    server = grpc.aio.server(interceptors=[*auth, ErrorInterceptor()], options=limits)
    operations = Operations(repository, engine, config, metrics, lifecycle)
    pb_grpc.add_SaliencyServicer_to_server(SaliencyServicer(operations, metrics), server)
    pb_grpc.add_AdminServicer_to_server(AdminServicer(operations, metrics), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            ADMIN_SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    address = f"{config.host}:{config.port}"
    port = (
        server.add_secure_port(address, credentials)
        if credentials is not None
        else server.add_insecure_port(address)
    )
    await server.start()
    for service in ("", SERVICE_NAME):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    metrics_host = (config.metrics_host or config.host).strip("[]")
    metrics_http = metrics.serve(config.metrics_port, metrics_host) if config.metrics_port else None
    probes = None
    if config.probe_port:
        probes, bound = await start_probe_server(health_servicer, config.host, config.probe_port)
        log.info("health for probes on plain-text port %d", bound)
    watcher = None
    if config.repository_poll_s:
        watcher = asyncio.create_task(lifecycle.watch(config.repository_poll_s))
    log.info(
        "serving %s on port %d (models: %s)", SERVICE_NAME, port, ", ".join(repository.names())
    )
    return RunningServer(
        server, port, health_servicer, engine, metrics, metrics_http, probes, watcher
    )


async def serve(config: ServerConfig) -> None:
    """Serve until SIGTERM or SIGINT, then drain within `config.grace_period_s`.

    The signals are handled from the start: one that arrives while the models load ends the
    start-up and the process exits cleanly (status 0).
    """
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    starting = asyncio.create_task(create_server(config))
    signalled = asyncio.create_task(stopping.wait())
    await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        log.info("stopped during start-up")
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return
    running = starting.result()
    await signalled
    log.info("draining for up to %.0f s", config.grace_period_s)
    await running.stop(config.grace_period_s)


async def _in_daemon_thread(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run `fn` in a daemon thread: unlike the default executor's, the process need not wait
    for it to exit (a signal during a long model load)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[R] = loop.create_future()

    def run() -> None:
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(_settle, future, None, error)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=run, name="load-models", daemon=True).start()
    return await future


def _settle(future: asyncio.Future[R], result: R | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
