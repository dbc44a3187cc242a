"""glibc's heap, tuned for a training loop that frees and reallocates the same large buffers."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc keep freed large blocks for reuse instead of returning them to the system.

    A training step allocates and frees the same few-megabyte buffers (activations, gradients) over
    and over.  glibc's defaults hand blocks above its mmap threshold back to the system at each free,
    so every step faults them in again (thousands of minor page faults a step for the LSTM at hidden
    256, README).  Raising the mmap and trim thresholds (as the environment variables
    MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ would) keeps them in the heap.  Both together:
    the trim threshold alone disables glibc's adaptive mmap threshold and faults more.  Process-wide
    and done once; False where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError, TypeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, 256 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))
