"""A real Prometheus server scrapes the service's metrics port, and PromQL answers over them.

Prometheus is Debian's `prometheus` package, which scripts/test.sh installs; the test starts it
on a free loopback port with a 1 s scrape interval and stops it afterwards.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from saliency_client import SaliencyClient

from tests.integration.scraping import free_port
from tests.random_models import write_model
from tests.serving import ServerThread

pytestmark = pytest.mark.integration
LATENCY_P90 = (
    "histogram_quantile(0.9, sum(rate(saliency_request_duration_seconds_bucket[1m])) by (le))"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    repository = write_model(tmp_path_factory.mktemp("scraped"), "tiny")
    running = ServerThread(repository, metrics_port=free_port())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def prometheus(server: ServerThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a Prometheus server that scrapes `server` every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "the `prometheus` server is not on PATH: run the tests with scripts/test.sh, which "
            "installs Debian's prometheus package (apt-get install prometheus)"
        )
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: saliency\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{server.running.metrics_port}']\n"
    )
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(f"{url}/-/ready") is not None, "Prometheus to start", folder)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bytes(response.read())
    except OSError:
        return None


def wait_for(condition: Any, what: str, folder: Path | None = None, seconds: float = 90) -> None:
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        if condition():
            return
        time.sleep(0.5)
    detail = (folder / "prometheus.log").read_text()[-2000:] if folder else ""
    raise AssertionError(f"timed out waiting for {what}\n{detail}")


def query(url: str, promql: str) -> list[dict[str, Any]]:
    body = _get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert body is not None, f"Prometheus did not answer {promql!r}"
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def scalar(url: str, promql: str) -> float | None:
    """The single value of `promql` now, or None while it has none (or only NaN)."""
    result = query(url, promql)
    if len(result) != 1:
        return None
    number = float(result[0]["value"][1])
    return None if math.isnan(number) else number


def explain(server: ServerThread) -> None:
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with SaliencyClient(server.target) as client:
        result = client.explain([image, image], model="tiny", method="grad_cam")
    assert all(r.error is None for r in result)


def test_prometheus_scrapes_the_service_and_answers_a_latency_quantile(
    server: ServerThread, prometheus: str
) -> None:
    wait_for(lambda: scalar(prometheus, 'up{job="saliency"}') == 1, "the target to be up")

    def answered() -> bool:
        explain(server)  # keep latency samples coming, so rate() over them is not zero
        return scalar(prometheus, LATENCY_P90) is not None

    wait_for(answered, "a latency quantile from Prometheus")
    p90 = scalar(prometheus, LATENCY_P90)
    assert p90 is not None
    assert 0 < p90 <= 60  # within the histogram's buckets, in seconds

    by_rpc = query(prometheus, 'sum by (rpc, code) (saliency_requests_total{model="tiny"})')
    assert {(r["metric"]["rpc"], r["metric"]["code"]) for r in by_rpc} == {("Explain", "OK")}
    batches = scalar(prometheus, 'sum(saliency_batch_size_count{method="grad_cam"})')
    images = scalar(prometheus, 'sum(saliency_batch_size_sum{method="grad_cam"})')
    assert batches is not None
    assert images is not None
    assert images == 2 * batches  # each request's two images went in one batch
    assert scalar(prometheus, 'saliency_device_memory_bytes{kind="budget"}') is not None
    assert scalar(prometheus, "sum(saliency_queue_wait_seconds_count)") is not None
