"""Reduced precision says when the hardware only emulates it (engine/precision.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from saliency_service.engine import precision
from saliency_service.engine.precision import Precision, native


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    pytest.skip("no CPU flags in /proc/cpuinfo")


def test_native_bfloat16_follows_the_cpu_flags() -> None:
    # The kernel's own report of the instruction sets is the oracle: oneDNN computes bf16
    # natively with AVX512-BF16 or AMX, and emulates it otherwise.
    flags = _cpu_flags()
    expected = bool({"avx512_bf16", "amx_bf16"} & flags)
    assert native(torch.device("cpu"), torch.bfloat16) is expected


def test_emulated_precision_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "native", lambda device, dtype: False)
    monkeypatch.setattr(precision, "_CHECKED", set())
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    precision.LOG.addHandler(handler)
    try:
        chosen = Precision.named("bfloat16")
        for _ in range(3):
            with chosen.context(torch.device("cpu"), tolerated=True):
                assert torch.is_autocast_enabled("cpu")
        with Precision.named("off").context(torch.device("cpu"), tolerated=True):
            assert not torch.is_autocast_enabled("cpu")
    finally:
        precision.LOG.removeHandler(handler)
    assert [r.levelno for r in records] == [logging.WARNING]
    assert "emulated" in records[0].getMessage()
