"""Regathering: the requests that come back after a batch is answered join one batch.

Clients that send their next request as soon as the last one is answered (a web page, a script,
a load balancer's connections) come back within milliseconds of their answers. Were the batcher
to dispatch whatever is queued the moment the device frees, N such clients would settle into
alternating partial batches (two of N/2, or worse), and small batches waste most of a CPU's peak
(bench/README.md, "Where the time goes"). So for a short window after a key's batch is answered,
that key's next batch waits until it holds as many items as were queued then plus the batch just
answered (or a full batch). The window is a small share of the answered batch's compute time, so
waiting in vain costs at most that share of the device's time, and never more than
REGATHER_CAP_S. A lone client gains too: its next request meets the expected count of one and
goes at once, without the queue delay.
"""

from __future__ import annotations

from dataclasses import dataclass

from saliency_service.engine.work import BatchKey

REGATHER_SHARE = 0.1
REGATHER_CAP_S = 0.05


@dataclass(frozen=True)
class Expectation:
    """The next batch of a key waits for `count` items until `until` (a `time.monotonic()`)."""

    count: int
    until: float


class Regathering:
    """What each key's next batch waits for, after that key's last batch was answered."""

    def __init__(self) -> None:
        self._expected: dict[BatchKey, Expectation] = {}

    def answered(
        self, key: BatchKey, answered: int, queued: int, compute_s: float, now: float
    ) -> None:
        """`answered` items of `key` are being answered after `compute_s` seconds of compute,
        with `queued` more of the key waiting."""
        if answered == 0:
            self._expected.pop(key, None)
            return
        window = min(REGATHER_SHARE * compute_s, REGATHER_CAP_S)
        self._expected[key] = Expectation(queued + answered, now + window)

    def expected(self, key: BatchKey, now: float) -> Expectation | None:
        """What the key's next batch waits for now; None once the window has passed."""
        expectation = self._expected.get(key)
        if expectation is not None and now >= expectation.until:
            del self._expected[key]
            return None
        return expectation

    def forget(self, key: BatchKey) -> None:
        """The key's next batch was dispatched: nothing more to wait for."""
        self._expected.pop(key, None)
