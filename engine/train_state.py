"""Checks that plain training state (a ``Trainer.state_dict()``, or a checkpoint's tensors) fits a
model before any of it is put in: every refusal is a one-line CheckpointError, so a damaged or
edited file fails at load, not at the first step.  ``where`` (a path, usually) starts each message.
"""
from __future__ import annotations

import math

import torch

from .errors import CheckpointError

OPTIMIZER_STATE = {"adam": {"step", "exp_avg", "exp_avg_sq"}, "sgd": set()}  # torch's per-parameter keys


def param_names(model) -> list[str]:
    return [name for name, _ in model.named_parameters()]


def _model_kind(names) -> str:
    """Which cell and depth a set of parameter names belongs to, e.g. ``lstm with 2 layer(s)``."""
    for cell, first in (("gru", "W_xz"), ("lstm", "W_xi"), ("rnn", "W_xh")):
        if first in names:
            return f"{cell} with {sum(1 for n in names if n == first or n.startswith(first + '_l'))} layer(s)"
    return "no known model"


def load_params(model, params, tensors: dict, prefix: str, where) -> None:
    """Copy the ``prefix`` weights of ``tensors`` into ``params`` (the model's, or a copy's)."""
    names = param_names(model)
    found = {key[len(prefix):] for key in tensors if key.startswith(prefix)}
    expected, held = _model_kind(names), _model_kind(found)
    if expected != held:
        raise CheckpointError(f"{where}: the checkpoint's configuration says {expected} but it holds the weights "
                              f"of {held}; the file was edited or is damaged: retrain")
    try:
        with torch.no_grad():
            for name, p in zip(names, params):
                saved = tensors[prefix + name]
                if saved.shape != p.shape or saved.dtype != p.dtype:
                    raise ValueError(name)
                if not torch.isfinite(saved).all():
                    raise CheckpointError(f"{where}: parameter {prefix}{name} holds NaN or infinite values; the "
                                          f"checkpoint is damaged: use another one or retrain")
                p.copy_(saved)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{where}: parameter {exc.args[0]!r} is missing or does not match the "
                              f"model's configuration") from None


def optimizer_state(params, optimizer: str, tensors: dict) -> dict:
    """The optimizer's per-parameter state from the ``optim.I.KEY`` tensors: all parameters or
    none, each with its optimizer's keys and shapes (ValueError otherwise)."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    if state and set(state) != set(range(len(params))):
        raise ValueError("optimizer state for some parameters only")
    for index, entry in state.items():
        if set(entry) != OPTIMIZER_STATE[optimizer]:
            raise ValueError("optimizer state keys")
        for key, value in entry.items():
            if not value.is_floating_point() or value.shape != (() if key == "step" else params[index].shape):
                raise ValueError("optimizer state shape")
            # Adam takes powers of the step count: a negative or fractional one turns them complex
            if not torch.isfinite(value).all() or (key != "exp_avg" and (value < 0).any()) \
                    or (key == "step" and value != value.round()):
                raise ValueError("optimizer state value")
    return state


def carried_state(fresh, tensors: dict, device):
    """The hidden state carried between minibatches (``state.h``, and the LSTM's ``state.c``), or
    None; shaped as ``fresh``, the model's own ``begin_state`` (ValueError otherwise)."""
    saved = [tensors[key] for key in ("state.h", "state.c") if key in tensors]
    if not saved:
        return None
    expected = fresh if isinstance(fresh, tuple) else (fresh,)
    if len(saved) != len(expected) or any(s.shape != e.shape or not s.is_floating_point()
                                           for s, e in zip(saved, expected)):
        raise ValueError("carried hidden state")
    state = tuple(s.to(device, torch.float32) for s in saved)
    return state if isinstance(fresh, tuple) else state[0]


def count(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


def seconds(value) -> float:
    value = float(value)
    if not 0 <= value < math.inf:
        raise ValueError(f"not a duration: {value!r}")
    return value
