"""Keep large tensors' memory mapped between passes, and give it back when the server is idle.

With glibc's defaults every allocation over 32 MiB is mmap'd and unmapped on each pass, so the
kernel zeroes fresh pages every time: a 32-image resnet50 pass measured 223 ms/image (122 ms of it
system time) before, 111 ms/image after raising the mmap threshold (DESIGN.md, "Own the
allocator"). Kept memory must also go back, or a burst leaves its peak resident for good. So glibc
never trims on its own (trimming on free pages the working set in again on every pass), and
`release_idle_memory()` (`malloc_trim(0)`, which also returns the free pages inside every
thread's arena) runs once the engine has been idle for a while.

`bench/allocator.py`, resnet50, 32-image gradient passes on a worker thread (2 busy cores, load
average 3.4-4.0), speed relative to the old setting (trimming off), MiB kept over idle after a
burst: trimming off 1.00, +1794; glibc's defaults 0.75; a finite trim threshold (256 MiB) 0.80;
this module (trimming off, `malloc_trim` when idle) 1.00, +3; jemalloc with 1 s decay 1.02, +12.
jemalloc would need a system library preloaded at start for no measurable gain.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from typing import Any

log = logging.getLogger(__name__)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc takes an int; the largest one turns automatic trimming off in practice.
NEVER_TRIM = 2**31 - 1


@functools.cache
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc, not another C library
    except (OSError, AttributeError):
        return None
    return libc


def tune_glibc_malloc(mmap_threshold: int = 1 << 30, trim_threshold: int = NEVER_TRIM) -> bool:
    """Raise glibc's mmap threshold and set its trim threshold; False where glibc is absent."""
    libc = _libc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1)
    ok = libc.mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1 and ok
    log.debug("glibc mallopt tuned: %s", ok)
    return ok


def release_idle_memory() -> bool:
    """Return the allocator's free memory to the OS (glibc `malloc_trim(0)`); False if none.

    Takes milliseconds to tens of milliseconds after a large burst and holds glibc's arena
    locks meanwhile: call it off the event loop, once when the engine goes idle, not per pass.
    """
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
