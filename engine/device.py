"""Where tensors live: ``--device auto|cpu|cuda`` (``cuda:N`` picks a card)."""
from __future__ import annotations

import functools

import torch

from .config import DEVICES
from .errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when present, else the CPU; ``cuda`` without CUDA is a ConfigError."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: this machine has no usable CUDA device; use --device cpu or auto")
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"--device {name}: not a device name; use auto, cpu, cuda or cuda:N") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here; "
                              f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
        return device
    raise ConfigError(f"--device {name}: unknown device; use one of: {', '.join(DEVICES)} (or cuda:N)")


def device_available(name: str) -> bool:
    """Whether :func:`resolve_device` accepts ``name`` on this machine."""
    try:
        resolve_device(name)
    except ConfigError:
        return False
    return True


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc keep freed large blocks for reuse instead of returning them to the system.

    A training step allocates and frees the same few-megabyte buffers (activations, gradients) over
    and over.  glibc's defaults hand blocks above its mmap threshold back to the system at each free,
    so every step faults them in again: 4-5 thousand minor page faults a step for the scratch LSTM
    at hidden 256, a fifth of its time.  Raising the mmap and trim thresholds (as the environment
    variables MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ would) keeps them in the heap.  Both
    together: the trim threshold alone disables glibc's adaptive mmap threshold and faults more.
    Process-wide and done once; False where the C library is not glibc."""
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError, TypeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, 256 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))
