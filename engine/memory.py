"""How much memory a model needs, estimated from its configuration before anything is allocated.

Options that are each within their caps can multiply into tens of gigabytes (hidden x layers,
batch x steps x vocabulary): the trainer and the checkpoint loader ask :func:`check_fits` first
and refuse, naming what to lower, what the machine cannot hold.  An allocation that fails anyway
(the estimate is approximate, other programs allocate too) is recognised by
:func:`is_out_of_memory`, on the CPU as on CUDA.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError

FLOAT = 4  # bytes of a float32
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
# The constants below are calibrated on the peak memory of a run's first steps, measured against
# the estimate for seven configurations (python -m benchmarks.memory --estimate): the estimate is
# 1.0-1.45 times the measurement, so a run it lets through fits.
# Copies of the weights: the weights, their gradients, the best-validation and last-good copies,
# a snapshot for generation, and the optimizer step's and the packed matmuls' temporaries; Adam
# adds its two moments.
WEIGHT_COPIES = 8
# Per layer, per (sequence, step, hidden unit), the floats a training step holds at its peak: the
# input terms and activations of every gate and the states, kept for the hand-derived backward,
# then their gradients.
LAYER_FLOATS = {cell: 3 * gates + 7 for cell, gates in GATES.items()}
LOGIT_FLOATS = 6  # logits, log-softmax, their gradients, per (sequence, step, token)
CPU_ALLOCATION_FAILED = ("DefaultCPUAllocator: can't allocate memory", "DefaultCPUAllocator: not enough memory")


def parameter_count(cell: str, vocab_size: int, hidden: int, layers: int = 1, embed: int = 0) -> int:
    """The parameters of ``engine.cells.build_model(cell, vocab_size, hidden, layers, embed=embed)``
    (engine.layers.init_stack's shapes), counted without building it."""
    V, H, G = vocab_size, hidden, GATES[cell]
    first_input = embed or V
    count = V * embed + G * (first_input * H + H * H + H)  # the embedding, the first layer
    count += (layers - 1) * G * (H * H + H * H + H)         # the layers above it
    return count + H * V + V                                # the output layer


@dataclass(frozen=True)
class MemoryEstimate:
    parameters: int
    weight_bytes: int      # the weights and every copy a run keeps of them
    activation_bytes: int  # one step's activations and their gradients
    checkpoint_bytes: int  # the file a save writes

    @property
    def total(self) -> int:
        return self.weight_bytes + self.activation_bytes


def training_estimate(config, vocab_size: int) -> MemoryEstimate:
    """A training run of ``config`` (engine.config.TrainConfig) on a ``vocab_size`` vocabulary.

    Weights: WEIGHT_COPIES of the parameters, and Adam's two moments.  Activations: batch x steps
    x (layers x hidden x LAYER_FLOATS + 2 x embedding + vocabulary x LOGIT_FLOATS) floats."""
    n = parameter_count(config.cell, vocab_size, config.hidden, config.layers, config.embed)
    moments = 2 if config.optimizer == "adam" else 0
    tokens = config.batch * config.steps
    per_token = config.layers * config.hidden * LAYER_FLOATS[config.cell] + 2 * config.embed \
        + LOGIT_FLOATS * vocab_size
    return MemoryEstimate(n, n * FLOAT * (WEIGHT_COPIES + moments), tokens * per_token * FLOAT,
                          n * FLOAT * (2 + moments))


def generation_estimate(config, vocab_size: int) -> MemoryEstimate:
    """Writing with a model of ``config``: the weights and one token's activations."""
    n = parameter_count(config.cell, vocab_size, config.hidden, config.layers, config.embed)
    return MemoryEstimate(n, n * FLOAT, (config.layers * config.hidden * 8 + vocab_size) * FLOAT, n * FLOAT)


def _gb(size: int) -> str:
    return f"{size / 1e9:,.1f} GB" if size >= 1e8 else f"{size / 1e6:,.0f} MB"


def check_fits(estimate: MemoryEstimate, available: int | None, what: str, *, advice: str = "") -> None:
    """A ConfigError when ``estimate`` exceeds ``available`` bytes (None: unknown, nothing is
    refused), saying ``advice`` or else which options to lower."""
    if available is None or estimate.total <= available:
        return
    if not advice:
        advice = "lower --hidden or --layers (a word-level vocabulary also counts: try --token char)" \
            if estimate.weight_bytes >= estimate.activation_bytes else "lower --batch or --steps (or --hidden)"
    raise ConfigError(f"{what} needs about {_gb(estimate.total)} ({estimate.parameters:,} parameters: "
                      f"{_gb(estimate.weight_bytes)} of weights and optimizer state, {_gb(estimate.activation_bytes)} "
                      f"of activations) and {_gb(available)} is available; {advice}")


def within_memory(allocate, what: str, advice: str):
    """``allocate()``, with an allocation that fails (the estimate is approximate, other programs
    allocate too) turned into a one-line ConfigError."""
    try:
        return allocate()
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
    raise ConfigError(f"out of memory while {what}; {advice}")


def check_checkpoint_size(estimate: MemoryEstimate, cap: int) -> None:
    """A ConfigError when a save of the model would exceed the checkpoint size ``cap``."""
    if estimate.checkpoint_bytes > cap:
        raise ConfigError(f"this model's checkpoint would be {estimate.checkpoint_bytes:,} bytes, over the "
                          f"{cap:,}-byte cap for checkpoints; lower --hidden or --layers")


def available_memory(device=None) -> int | None:
    """Bytes the ``device`` (a torch.device; None: the CPU) can still allocate: the kernel's
    MemAvailable on the CPU, CUDA's free memory on a GPU; None where it cannot be told."""
    if device is not None and device.type == "cuda":
        import torch

        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation that failed: CUDA's OutOfMemoryError, or the RuntimeError
    torch's CPU allocator raises."""
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and any(text in str(error) for text in CPU_ALLOCATION_FAILED)
