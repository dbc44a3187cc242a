"""Checkpoints as plain data: one ``.safetensors`` file whose string metadata holds JSON.

Tensors (weights, best-validation weights, optimizer moments, RNG states, the
carried hidden state) go in the safetensors body and everything else (config,
vocabulary, position in the run) in the JSON, so loading never runs pickle
code, whoever wrote the file.  The file itself (format, atomic writes, what may be
opened) is engine/checkpoint_file.py; this module turns it into a model or a trainer.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, fields
from pathlib import Path

import torch

from .cells import build_model
from .checkpoint_file import read_checkpoint, write_checkpoint
from .config import TrainConfig
from .corpus import CorpusText, corpus_name
from .device import device_available, resolve_device
from .errors import CheckpointError, ConfigError, CorpusError
from .memory import available_memory, check_fits, generation_estimate, training_estimate, within_memory
from .tensor_bytes import tensor_bytes
from .tokenfile import load_corpus
from .vocab import DEFAULT_MAX_VOCAB, Vocab

# what a checkpoint that asks for more memory than there is should be told
TOO_LARGE = "use a machine with more memory, or the file is damaged"
OPTIMIZER_STATE = {"adam": {"step", "exp_avg", "exp_avg_sq"}, "sgd": set()}  # torch's per-parameter keys


# ---------------------------------------------------------------- pieces ----

def _vocab(meta: dict, path) -> Vocab:
    try:
        if not all(isinstance(token, str) for token in meta["vocab"]):
            raise TypeError
        vocab = Vocab.from_tokens_list(meta["vocab"])
        if len(vocab) < 2:  # <unk> alone: nothing to write
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: the checkpoint's vocabulary is missing or malformed") from None
    if len(vocab) > DEFAULT_MAX_VOCAB:
        raise CheckpointError(f"{path}: the checkpoint's vocabulary has {len(vocab):,} entries, over the cap of "
                              f"{DEFAULT_MAX_VOCAB:,}; rnnplay does not train such models: the file is damaged "
                              f"or not from rnnplay")
    return vocab


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
                if not torch.isfinite(saved).all():
                    raise CheckpointError(f"{path}: parameter {prefix}{name} holds NaN or infinite values; the "
                                          f"checkpoint is damaged: use another one or retrain")
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
    # the configuration is checked against this machine before it allocates anything
    check_fits(generation_estimate(config, len(vocab)), available_memory(), f"{path}: this checkpoint's model",
               advice=TOO_LARGE)
    model = within_memory(lambda: build_model(config.cell, len(vocab), config.hidden, config.layers,
                                              config.dropout, device, embed=config.embed),
                          "building the checkpoint's model", advice=TOO_LARGE)
    use_best = best and any(key.startswith("best.") for key in tensors)
    _load_params(model, model.params, tensors, "best." if use_best else "model.", path)
    return model.requires_grad_(False).eval(), vocab, meta


def _config(meta: dict, path) -> TrainConfig:
    try:
        known = {f.name for f in fields(TrainConfig)}
        # checkpoints from before a field existed trained as its absence meant: one-hot inputs,
        # constant lr, the book's preprocessing
        saved = {"embed": 0, "schedule": "constant", "mode": "book", **meta["config"]}
        config = TrainConfig(**{k: v for k, v in saved.items() if k in known})
        config.validate()
    except (KeyError, TypeError, ValueError, ConfigError):  # missing, not a dict, unhashable, out of range
        raise CheckpointError(f"{path}: the checkpoint's configuration is missing or invalid") from None
    return config


FINGERPRINT_TOKENS = 1 << 20  # tokens widened to int32 at a time while hashing


def corpus_fingerprint(corpus) -> str:
    """SHA-1 of the token indices as little-endian int32 bytes (a tensor or a list of them), hashed
    a window at a time: a memory-mapped corpus is never copied whole."""
    tokens = corpus if isinstance(corpus, torch.Tensor) else torch.tensor(corpus, dtype=torch.int64)
    digest = hashlib.sha1()
    for start in range(0, len(tokens), FINGERPRINT_TOKENS):
        digest.update(tensor_bytes(tokens[start:start + FINGERPRINT_TOKENS].to(torch.int32), little_endian=True))
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


def load_trainer(trainer_cls, path, *, corpus=None, source=None, device=None, **read_options):
    """A trainer that continues the checkpointed run.  The text is ``corpus`` (token indices), or
    read from ``source`` (where a moved text is now), or from the source the checkpoint names;
    either way it must be the text the run was trained on."""
    tensors, meta = read_checkpoint(path)
    vocab = _vocab(meta, path)
    config = _config(meta, path)
    missing = None  # a device the run was trained on that this machine lacks
    if device is not None:
        config.device = device
    elif not device_available(config.device):
        missing, config.device = config.device, "auto"
    check_fits(training_estimate(config, len(vocab)), available_memory(resolve_device(config.device)),
               f"{path}: resuming this checkpoint", advice=TOO_LARGE)
    recorded = meta.get("corpus") if isinstance(meta.get("corpus"), dict) else {}
    name = source or recorded.get("name")
    if corpus is None:
        if not name or not isinstance(name, str):
            raise CheckpointError(f"{path}: the checkpoint does not name its corpus; pass it (--corpus) to resume")
        try:
            corpus, found = load_corpus(name, token=config.token, mode=config.mode, max_tokens=config.max_tokens,
                                        **read_options)
        except CorpusError as exc:
            if source:
                raise
            raise CorpusError(f"the run's text cannot be read ({exc}); if it moved, pass its new place with "
                              f"--corpus PATH") from None
        if found.idx_to_token != vocab.idx_to_token:
            raise CheckpointError(f"{path}: the corpus {name!r} has changed since the checkpoint "
                                  f"was written (its vocabulary differs); resume with the original text")
    if corpus_fingerprint(corpus) != recorded.get("sha1"):
        raise CheckpointError(f"{path}: the corpus {name!r} is not the one this run was trained "
                              f"on; resume with the original text")
    if source:  # the checkpoint saved from here on records where the text is now
        name = corpus_name(CorpusText(source, ""))
    trainer = trainer_cls(config, corpus, vocab, corpus_name=name or "")
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
