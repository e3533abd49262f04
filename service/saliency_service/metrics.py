"""Every Prometheus metric the service exports, defined once; recorded at the edges only."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The service's metrics on their own registry (so tests can run several servers)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "saliency_requests_total",
            "RPCs answered, by RPC, model, method and status code.",
            ("rpc", "model", "method", "code"),
            registry=r,
        )
        self.items = Counter(
            "saliency_items_total",
            "Images processed, by RPC, model, method and outcome.",
            ("rpc", "model", "method", "outcome"),
            registry=r,
        )
        self.request_latency = Histogram(
            "saliency_request_duration_seconds",
            "End-to-end RPC latency.",
            ("rpc", "model", "method"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "saliency_queue_wait_seconds",
            "Time work waits before compute starts.",
            ("model",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.compute_time = Histogram(
            "saliency_compute_duration_seconds",
            "Time a batch spends computing.",
            ("model", "method"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "saliency_batch_size",
            "Images per computed batch.",
            ("model", "method"),
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.queue_depth = Gauge(
            "saliency_queue_depth", "Work items waiting for compute.", ("model",), registry=r
        )
        self.inflight = Gauge(
            "saliency_inflight_items", "Images accepted and not yet answered.", registry=r
        )
        self.onnx_gap = Gauge(
            "saliency_onnx_logit_gap",
            "Largest |torch − ONNX Runtime| logit gap at load.",
            ("model",),
            registry=r,
        )

    def serve(self, port: int, host: str = "0.0.0.0") -> WSGIServer:
        """Expose /metrics over HTTP on `port` (0 = a free port); shut down the returned server."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server
