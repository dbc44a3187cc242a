"""Where tensors live: ``--device auto|cpu|cuda`` (``cuda:N`` picks a card)."""
from __future__ import annotations

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
