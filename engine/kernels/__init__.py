"""The machine-specific kernels under the scratch models, behind one small interface.

The recurrences with their hand-derived backward passes (engine/bptt.py, engine/gated_bptt.py)
are written once, over the methods of :class:`Portable`: ``product`` (a weight applied at every
step), ``matmul``, ``affine``, ``gates_`` (with ``tanh_scale``), ``tanh``, ``sigmoid_backward``,
``tanh_backward`` and ``keep_freed_memory``.  Two backends implement them:

- ``onednn`` (engine/kernels/onednn.py): float32 CPU tensors through oneDNN's prepacked matmuls,
  tanh through the sigmoid, aten's fused derivative kernels, glibc's heap kept for reuse;
- ``portable`` (engine/kernels/portable.py): public torch only, for every device and dtype.

:func:`backend` chooses once, at the first call: ``onednn`` where this torch and CPU pass its
capability check, else ``portable``.  The environment variable ``RNNPLAY_KERNELS`` overrides it:
``portable`` forces the public-torch path, ``onednn`` insists on the fast one, ``auto`` is the
default.  Tensors the chosen backend does not serve (CUDA, float64) get the portable kernels
(:func:`for_tensor`).
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import torch

from ..errors import ConfigError
from . import onednn
from .portable import Portable

ENV = "RNNPLAY_KERNELS"
CHOICES = ("auto", "onednn", "portable")
PORTABLE = Portable()

_chosen: Portable | None = None


def _from_environment() -> Portable:
    choice = os.environ.get(ENV, "").strip().lower() or "auto"
    if choice not in CHOICES:
        raise ConfigError(f"{ENV}={choice}: unknown kernels; use one of {', '.join(CHOICES)}")
    if choice == "portable":
        return PORTABLE
    if onednn.available():
        return onednn.OneDNN()
    if choice == "onednn":
        raise ConfigError(f"{ENV}=onednn: this torch or CPU has no working oneDNN linear; use auto or portable")
    return PORTABLE


def backend() -> Portable:
    """The kernels chosen for this process (see the module's docstring)."""
    global _chosen
    if _chosen is None:
        _chosen = _from_environment()
    return _chosen


def for_tensor(t: torch.Tensor) -> Portable:
    """The kernels for tensors like ``t``: the chosen backend where it serves them, else portable."""
    chosen = backend()
    return chosen if chosen.accepts(t) else PORTABLE


@contextmanager
def using(kernels: Portable):
    """Run the recurrences on ``kernels`` inside the block (tests and benchmarks compare backends)."""
    global _chosen
    before = backend()
    _chosen = kernels
    try:
        yield kernels
    finally:
        _chosen = before


def keep_freed_memory() -> bool:
    """The chosen backend's allocator tuning for a training loop (see engine/kernels/heap.py)."""
    return backend().keep_freed_memory()


__all__ = ["CHOICES", "ENV", "PORTABLE", "Portable", "backend", "for_tensor", "keep_freed_memory", "using"]
