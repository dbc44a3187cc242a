"""Checkpoints as plain data: one ``.safetensors`` file whose string metadata holds JSON.

Tensors (weights, best-validation weights, optimizer moments, RNG states, the
carried hidden state) go in the safetensors body and everything else (config,
vocabulary, position in the run) in the JSON, so loading never runs pickle
code, whoever wrote the file.  What goes in is ``Trainer.state_dict()``'s plain data; this
module only reads it back: the model for generation, or what a trainer is rebuilt from
(:func:`open_run`: its configuration, vocabulary and corpus).  The file itself (format, atomic
writes, what may be opened) is engine/checkpoint_file.py.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch

from .cells import build_model
from .checkpoint_file import read_checkpoint
from .config import TrainConfig, resolve
from .corpus import CorpusText, corpus_name
from .device import device_available, resolve_device
from .errors import CheckpointError, ConfigError, CorpusError
from .memory import available_memory, check_fits, generation_estimate, training_estimate, within_memory
from .tensor_bytes import tensor_bytes
from .tokenfile import load_corpus
from .train_state import load_params
from .vocab import DEFAULT_MAX_VOCAB, Vocab

# what a checkpoint that asks for more memory than there is should be told
TOO_LARGE = "use a machine with more memory, or the file is damaged"
RESUMABLE = ("epochs", "time_budget", "device")  # what a resumed run may change: how long, and where


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


def config_of(meta: dict, path, changes: Mapping | None = None) -> TrainConfig:
    """The configuration a checkpoint recorded (engine.config.resolve, as saved), with ``changes``
    to the fields a resumed run may change (RESUMABLE)."""
    changes = dict(changes or {})
    for field in changes:
        if field not in RESUMABLE:
            raise ConfigError(f"{field}: a resumed run keeps the checkpoint's configuration; only "
                              f"{', '.join(RESUMABLE)} may change", field)
    saved = meta.get("config")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: the checkpoint's configuration is missing or invalid")
    try:
        saved = resolve(saved, saved=True)
    except (TypeError, ConfigError):  # a field of the wrong kind, out of range, unhashable
        raise CheckpointError(f"{path}: the checkpoint's configuration is missing or invalid") from None
    return resolve({**asdict(saved), **changes}, saved=True)



def load_model(path, *, device=None, best: bool = True) -> tuple[torch.nn.Module, Vocab, dict]:
    """``(model, vocab, meta)`` for generation: the best-validation weights when the run kept
    some and ``best``, else the latest; ``meta["config"]`` holds the training configuration."""
    tensors, meta = read_checkpoint(path)
    vocab = _vocab(meta, path)
    config = config_of(meta, path)
    # the configuration is checked against this machine before it allocates anything
    check_fits(generation_estimate(config, len(vocab)), available_memory(), f"{path}: this checkpoint's model",
               advice=TOO_LARGE)
    model = within_memory(lambda: build_model(config.cell, len(vocab), config.hidden, config.layers,
                                              config.dropout, device, embed=config.embed),
                          "building the checkpoint's model", advice=TOO_LARGE)
    use_best = best and any(key.startswith("best.") for key in tensors)
    load_params(model, model.params, tensors, "best." if use_best else "model.", path)
    return model.requires_grad_(False).eval(), vocab, meta


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

@dataclass
class SavedRun:
    """What a trainer that continues a checkpointed run is built from: its ``(tensors, meta)`` for
    ``Trainer.load_state_dict``, and the configuration, vocabulary and corpus for the trainer."""

    tensors: dict
    meta: dict
    config: TrainConfig
    vocab: Vocab
    corpus: object               # token indices: a tensor (or a list)
    corpus_name: str
    notice: str = ""             # e.g. why the device differs from the checkpoint's


def open_run(path, *, corpus=None, source=None, changes: Mapping | None = None, **read_options) -> SavedRun:
    """Read a checkpoint to continue its run.  The text is ``corpus`` (token indices), or read
    from ``source`` (where a moved text is now), or from the source the checkpoint names; either
    way it must be the text the run was trained on.  ``changes``: see :func:`config_of`; a device
    the run was trained on that this machine lacks becomes "auto", and ``notice`` says so."""
    tensors, meta = read_checkpoint(path)
    vocab = _vocab(meta, path)
    changes = dict(changes or {})
    saved_device = config_of(meta, path).device
    missing = "device" not in changes and not device_available(saved_device)
    if missing:
        changes["device"] = "auto"
    config = config_of(meta, path, changes)
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
    notice = (f"the checkpoint was trained on {saved_device}, which this machine lacks; continuing on "
              f"{resolve_device(config.device)}") if missing else ""
    return SavedRun(tensors, meta, config, vocab, corpus, name or "", notice)
