"""Checkpoints as plain data: one ``.safetensors`` file whose string metadata holds JSON.

Tensors (weights, best-validation weights, optimizer moments, RNG states, the
carried hidden state) go in the safetensors body and everything else (config,
vocabulary, position in the run) in the JSON, so loading never runs pickle
code, whoever wrote the file.  Writes are atomic: a temporary file in the same
folder, fsync, rename; a crash mid-save leaves the previous checkpoint intact, and the
temporary file it leaves behind (named with the writer's process id) is removed by the
next save once that process is gone.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, fields
from pathlib import Path

import safetensors.torch
import torch

from .atomic import atomic_write
from .cells import build_model
from .config import TrainConfig
from .device import device_available
from .errors import CheckpointError
from .tokenfile import load_corpus, tensor_bytes
from .vocab import Vocab

FORMAT = "rnnplay-checkpoint"
VERSION = 1
META_KEY = "rnnplay"
OPTIMIZER_STATE = {"adam": {"step", "exp_avg", "exp_avg_sq"}, "sgd": set()}  # torch's per-parameter keys


# ------------------------------------------------------------- the file ----

def write_checkpoint(path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Atomically write ``tensors`` and the JSON-able ``meta`` to ``path``."""
    path = Path(path)
    body = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    header = {META_KEY: json.dumps({"format": FORMAT, "version": VERSION, **meta})}
    try:
        data = safetensors.torch.save(body, metadata=header)
        with atomic_write(path) as fh:
            fh.write(data)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write the checkpoint ({exc.strerror or exc}); free some space "
                              f"or save elsewhere (--save)") from None
    return path


def read_checkpoint(path) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, meta)`` of a checkpoint; anything else is a one-line CheckpointError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc.strerror or exc})") from None
    not_ours = f"{path}: not an rnnplay checkpoint, or corrupt or truncated"
    try:
        size = int.from_bytes(data[:8], "little")
        if len(data) < 8 or size > len(data) - 8:
            raise ValueError("header past the end")
        meta = json.loads(json.loads(data[8:8 + size])["__metadata__"][META_KEY])
        tensors = safetensors.torch.load(data)
    except Exception:  # any parse failure of untrusted bytes is the same answer
        raise CheckpointError(not_ours) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(not_ours)
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('version')!r}, "
                              f"this rnnplay reads version {VERSION}; retrain or use a matching rnnplay")
    return tensors, meta


# ---------------------------------------------------------------- pieces ----

def _vocab(meta: dict, path) -> Vocab:
    try:
        if not all(isinstance(token, str) for token in meta["vocab"]):
            raise TypeError
        return Vocab.from_tokens_list(meta["vocab"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: the checkpoint's vocabulary is missing or malformed") from None


def param_names(model) -> list[str]:
    return [name for name, _ in model.named_parameters()]


def _model_kind(names) -> str:
    """Which cell and depth a set of parameter names belongs to, e.g. ``lstm with 2 layer(s)``."""
    for cell, first in (("gru", "W_xz"), ("lstm", "W_xi"), ("rnn", "W_xh")):
        if first in names:
            return f"{cell} with {sum(1 for n in names if n == first or n.startswith(first + '_l'))} layer(s)"
    return "no known model"


def _load_params(model, params, tensors: dict, prefix: str, path) -> None:
    """Copy the checkpoint's ``prefix`` weights into ``params`` (the model's, or a copy's)."""
    names = param_names(model)
    found = {key[len(prefix):] for key in tensors if key.startswith(prefix)}
    expected, held = _model_kind(names), _model_kind(found)
    if expected != held:
        raise CheckpointError(f"{path}: the checkpoint's configuration says {expected} but it holds the weights "
                              f"of {held}; the file was edited or is damaged: retrain")
    try:
        with torch.no_grad():
            for name, p in zip(names, params):
                saved = tensors[prefix + name]
                if saved.shape != p.shape or saved.dtype != p.dtype:
                    raise ValueError(name)
                p.copy_(saved)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: parameter {exc.args[0]!r} is missing or does not match the "
                              f"model's configuration") from None


def load_model(path, *, device=None, best: bool = True) -> tuple[torch.nn.Module, Vocab, dict]:
    """``(model, vocab, meta)`` for generation: the best-validation weights when the run kept
    some and ``best``, else the latest; ``meta["config"]`` holds the training configuration."""
    tensors, meta = read_checkpoint(path)
    vocab = _vocab(meta, path)
    config = _config(meta, path)
    model = build_model(config.cell, len(vocab), config.hidden, config.layers, config.dropout, device,
                        embed=config.embed)
    use_best = best and any(key.startswith("best.") for key in tensors)
    _load_params(model, model.params, tensors, "best." if use_best else "model.", path)
    return model.requires_grad_(False).eval(), vocab, meta


def _config(meta: dict, path) -> TrainConfig:
    try:
        known = {f.name for f in fields(TrainConfig)}
        # checkpoints from before a field existed trained as its absence meant: one-hot inputs, constant lr
        saved = {"embed": 0, "schedule": "constant", **meta["config"]}
        config = TrainConfig(**{k: v for k, v in saved.items() if k in known})
        config.validate()
    except Exception:
        raise CheckpointError(f"{path}: the checkpoint's configuration is missing or invalid") from None
    return config


FINGERPRINT_TOKENS = 1 << 20  # tokens widened to int32 at a time while hashing


def corpus_fingerprint(corpus) -> str:
    """SHA-1 of the tokens as int32 in the machine's (little-endian) order, hashed a window at a
    time: a memory-mapped corpus is never copied whole."""
    tokens = corpus if isinstance(corpus, torch.Tensor) else torch.tensor(list(corpus))
    digest = hashlib.sha1()
    for start in range(0, len(tokens), FINGERPRINT_TOKENS):
        digest.update(tensor_bytes(tokens[start:start + FINGERPRINT_TOKENS].to(torch.int32)))
    return digest.hexdigest()


# --------------------------------------------------------- training state ----

def save_trainer(trainer, path) -> Path:
    """Everything a resumed run needs to continue as if never stopped."""
    names = param_names(trainer.model)
    tensors = {f"model.{n}": p for n, p in zip(names, trainer.model.params)}
    if trainer._best_params is not None:
        tensors.update({f"best.{n}": p for n, p in zip(names, trainer._best_params)})
    for i, state in trainer.optimizer.state_dict()["state"].items():
        tensors.update({f"optim.{i}.{key}": torch.as_tensor(value) for key, value in state.items()})
    tensors["rng.data"] = trainer._data_rng.get_state()
    if trainer._epoch_rng_state is not None:
        tensors["rng.epoch"] = trainer._epoch_rng_state
    if trainer._state is not None:  # the LSTM's state is the pair (H, C)
        pair = isinstance(trainer._state, tuple)
        tensors.update(zip(("state.h", "state.c"), trainer._state if pair else (trainer._state,)))
    meta = {
        "config": asdict(trainer.config),
        "vocab": trainer.vocab.idx_to_token,
        "corpus": {"name": trainer.corpus_name, "tokens": len(trainer._corpus),
                   "sha1": corpus_fingerprint(trainer._corpus)},
        "progress": {"epoch": trainer.epoch, "global_step": trainer.global_step, "elapsed": trainer.elapsed,
                     "step_in_epoch": trainer._step_in_epoch, "epoch_loss": trainer._epoch_loss,
                     "epoch_tokens": trainer._epoch_tokens, "epoch_seconds": trainer._epoch_seconds,
                     "best_val_perplexity": trainer.best_val_perplexity},
    }
    return write_checkpoint(path, tensors, meta)


def load_trainer(trainer_cls, path, *, corpus=None, device=None, **read_options):
    tensors, meta = read_checkpoint(path)
    vocab = _vocab(meta, path)
    config = _config(meta, path)
    missing = None  # a device the run was trained on that this machine lacks
    if device is not None:
        config.device = device
    elif not device_available(config.device):
        missing, config.device = config.device, "auto"
    source = meta.get("corpus") or {}
    if corpus is None:
        if not source.get("name"):
            raise CheckpointError(f"{path}: the checkpoint does not name its corpus; pass the corpus to resume")
        corpus, found = load_corpus(source["name"], token=config.token, max_tokens=config.max_tokens,
                                    **read_options)
        if found.idx_to_token != vocab.idx_to_token:
            raise CheckpointError(f"{path}: the corpus {source['name']!r} has changed since the checkpoint "
                                  f"was written (its vocabulary differs); resume with the original text")
    if corpus_fingerprint(corpus) != source.get("sha1"):
        raise CheckpointError(f"{path}: the corpus {source.get('name')!r} is not the one this run was trained "
                              f"on; resume with the original text")
    trainer = trainer_cls(config, corpus, vocab, corpus_name=source.get("name", ""))
    if missing:
        trainer.notice = (f"the checkpoint was trained on {missing}, which this machine lacks; "
                          f"continuing on {trainer.device}")
    _load_params(trainer.model, trainer.model.params, tensors, "model.", path)
    try:
        _restore_progress(trainer, tensors, meta["progress"])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError):
        raise CheckpointError(f"{path}: the checkpoint's training state is incomplete or mismatched") from None
    return trainer


def _optimizer_state(trainer, tensors: dict) -> dict:
    """The optimizer's per-parameter state, checked now so that a bad file fails at load, not at
    the first step: all parameters or none, each with its optimizer's keys and shapes."""
    params = trainer.model.params
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    if state and set(state) != set(range(len(params))):
        raise ValueError("optimizer state for some parameters only")
    for index, entry in state.items():
        if set(entry) != OPTIMIZER_STATE[trainer.config.optimizer]:
            raise ValueError("optimizer state keys")
        for key, value in entry.items():
            if not value.is_floating_point() or value.shape != (() if key == "step" else params[index].shape):
                raise ValueError("optimizer state shape")
            # Adam takes powers of the step count: a negative or fractional one turns them complex
            if not torch.isfinite(value).all() or (key != "exp_avg" and (value < 0).any()) \
                    or (key == "step" and value != value.round()):
                raise ValueError("optimizer state value")
    return state


def _carried_state(trainer, tensors: dict):
    """The hidden state carried between minibatches (sequential partitioning), or None; shaped as
    the model's own ``begin_state`` (the LSTM's: the pair state.h, state.c)."""
    saved = [tensors[key] for key in ("state.h", "state.c") if key in tensors]
    if not saved:
        return None
    fresh = trainer.model.begin_state(trainer.config.batch)
    expected = fresh if isinstance(fresh, tuple) else (fresh,)
    if len(saved) != len(expected) or any(s.shape != e.shape or not s.is_floating_point()
                                           for s, e in zip(saved, expected)):
        raise ValueError("carried hidden state")
    state = tuple(s.to(trainer.device, torch.float32) for s in saved)
    return state if isinstance(fresh, tuple) else state[0]


def _count(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


def _seconds(value) -> float:
    value = float(value)
    if not 0 <= value < math.inf:
        raise ValueError(f"not a duration: {value!r}")
    return value


def _restore_progress(trainer, tensors: dict, progress: dict) -> None:
    if any(key.startswith("best.") for key in tensors):
        trainer._best_params = [p.detach().clone() for p in trainer.model.params]
        _load_params(trainer.model, trainer._best_params, tensors, "best.", "checkpoint")
    optim = trainer.optimizer.state_dict()
    optim["state"] = _optimizer_state(trainer, tensors)
    trainer.optimizer.load_state_dict(optim)
    trainer._data_rng.set_state(tensors["rng.data"])
    epoch_rng = tensors.get("rng.epoch")
    if epoch_rng is not None:
        torch.Generator().set_state(epoch_rng)  # fails here on a bad state, rather than mid-run
    trainer._epoch_rng_state = epoch_rng
    trainer._state = _carried_state(trainer, tensors)
    trainer.epoch = _count(progress["epoch"])
    trainer.global_step = _count(progress["global_step"])
    trainer.elapsed = _seconds(progress["elapsed"])
    trainer._step_in_epoch = _count(progress["step_in_epoch"])
    trainer._epoch_loss = float(progress["epoch_loss"])
    trainer._epoch_tokens = _count(progress["epoch_tokens"])
    trainer._epoch_seconds = _seconds(progress["epoch_seconds"])
    best = progress["best_val_perplexity"]
    trainer.best_val_perplexity = None if best is None else float(best)
    trainer.dirty = False
