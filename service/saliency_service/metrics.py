"""Every Prometheus metric the service exports, defined once; recorded at the edges only.

The servicer records what a caller sees (RPCs, their status and latency, images by outcome); the
batcher records what the engine does (queue depth and wait, batch sizes, compute time, dropped,
rejected and out-of-memory work, worker restarts). Explainers and attacks record nothing.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
PASS_BUCKETS = (0, 1, 2, 4, 8, 16, 64, 256)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256)


class Metrics:
    """The service's metrics on their own registry (so tests can run several servers)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        work = ("model", "method")
        self.requests = Counter(
            "saliency_requests_total",
            "RPCs answered, by RPC, model, method and status code.",
            ("rpc", "model", "method", "code"),
            registry=r,
        )
        self.items = Counter(
            "saliency_items_total",
            "Images answered, by RPC, model, method and outcome (ok, invalid, failed).",
            ("rpc", "model", "method", "outcome"),
            registry=r,
        )
        self.request_latency = Histogram(
            "saliency_request_duration_seconds",
            "End-to-end RPC latency, from the handler's start to its answer.",
            ("rpc", "model", "method"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "saliency_queue_wait_seconds",
            "Time an image waits in the batcher's queue before its batch starts.",
            work,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.compute_time = Histogram(
            "saliency_compute_duration_seconds",
            "Time a batch spends on its device.",
            work,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "saliency_batch_size",
            "Images per computed batch (several requests' images share one).",
            work,
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "saliency_queue_depth", "Images waiting in the batcher's queue.", ("model",), registry=r
        )
        self.inflight = Gauge(
            "saliency_inflight_items",
            "Images accepted by the batcher and not yet answered (queued or computing).",
            registry=r,
        )
        self.rejected = Counter(
            "saliency_rejected_requests_total",
            "Requests refused with RESOURCE_EXHAUSTED before any work, by reason: busy (the "
            "admitted work is at its limit), cost or reply (over a per-request cap).",
            ("model", "reason"),
            registry=r,
        )
        self.gate_wait_passes = Histogram(
            "saliency_gate_wait_passes",
            "Passes other batches ran on the device while a dispatched batch waited for its "
            "first pass (preemption keeps it at most 1).",
            work,
            buckets=PASS_BUCKETS,
            registry=r,
        )
        self.passes_after_cancel = Histogram(
            "saliency_passes_after_cancel",
            "Passes a running batch started after the last of its callers cancelled: at most "
            "one, whose start raced the cancellation.",
            work,
            buckets=PASS_BUCKETS,
            registry=r,
        )
        self.passes = Counter(
            "saliency_passes_total",
            "Forward passes of the models (slices: preemption happens between them).",
            work,
            registry=r,
        )
        self.dropped = Counter(
            "saliency_dropped_items_total",
            "Images dropped before or during compute, by reason (deadline, cancelled).",
            ("model", "reason"),
            registry=r,
        )
        self.oom_splits = Counter(
            "saliency_oom_splits_total",
            "Passes that ran out of device memory and were split and retried.",
            ("model", "device"),
            registry=r,
        )
        self.rows_per_pass = Gauge(
            "saliency_rows_per_pass",
            "Rows per forward/backward pass the memory budget allows, as last used.",
            ("model", "device"),
            registry=r,
        )
        self.device_memory = Gauge(
            "saliency_device_memory_bytes",
            "Device memory: the passes' budget, in use now, and the peak (CPU: process RSS).",
            ("device", "kind"),
            registry=r,
        )
        self.worker_restarts = Counter(
            "saliency_worker_restarts_total",
            "Model instances rebuilt after an unexpected error in a batch.",
            ("device",),
            registry=r,
        )
        self.onnx_gap = Gauge(
            "saliency_onnx_logit_gap",
            "Largest |torch − ONNX Runtime| logit gap at load.",
            ("model",),
            registry=r,
        )
        self.model_changes = Counter(
            "saliency_model_changes_total",
            "Model versions loaded, replaced, removed or failed while serving (reloads).",
            ("model", "action"),
            registry=r,
        )

    def serve(self, port: int, host: str = "0.0.0.0") -> WSGIServer:
        """Expose /metrics over HTTP on `port` (0 = a free port); shut down the returned server."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server
