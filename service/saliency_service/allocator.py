"""Keep large tensors' memory mapped between passes.

With glibc's defaults every allocation over 32 MiB is mmap'd and unmapped on each pass, so the
kernel zeroes fresh pages every time: a 32-image resnet50 pass measured 223 ms/image (122 ms of it
system time) before, 111 ms/image after (DESIGN.md, "Own the allocator").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def tune_glibc_malloc(mmap_threshold: int = 1 << 30) -> bool:
    """Raise glibc's mmap threshold and stop trimming; False where glibc is not the allocator."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1)
    # A negative trim threshold is not accepted; the largest int disables trimming in practice.
    ok = mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1 and ok
    log.debug("glibc mallopt tuned: %s", ok)
    return ok
