"""Training hyperparameters, without torch, so the CLI can show defaults and check options fast.

:func:`resolve` is the one place that turns the options someone gave (on the command line, in
the app's form, in ``rnnplay compare``, in a checkpoint) into a :class:`TrainConfig`: every
default and every rule between options lives here, and nothing else derives them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from .corpus import MODES
from .errors import ConfigError
from .vocab import TOKEN_LEVELS

ITERATORS = ("random", "sequential")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda")
CELLS = ("rnn", "gru", "lstm")
DEFAULT_LR = {"sgd": 1.0, "adam": 0.003}  # the book's lr for SGD; a tuned one for Adam
ADAM_LR = {"lstm": 0.008}  # per cell where Adam's tuned rate differs (the LSTM's, with its cosine decay)
EPOCHS_UNDER_A_BUDGET = 10 ** 6  # a time budget given without epochs: the clock ends the run
# Ranges that keep the arithmetic finite: past them an update overflows float32 (a learning rate
# of 1e38), a seed overflows torch's generators (the dropout seed is seed x 1,000,003 + step), a
# budget stops meaning anything.
MAX_LR = 1000.0
MAX_CLIP = 1e6
MAX_WEIGHT_DECAY = 100.0
MAX_SECONDS = 10 ** 6  # about 11.6 days
MAX_SEED = 2 ** 32 - 1
# The defaults (Adam, random sampling, 64 steps; the cell's sizes below) reach a validation
# perplexity under 4.9 on the whole of *The Time Machine* in a few minutes on a small CPU
# (README's tables).  The book's recipe is optimizer sgd (lr 1), hidden 512, steps 35, batch 32.
DEFAULTS = {
    "token": "char", "iterator": "random", "steps": 64, "clip": 1.0, "optimizer": "adam", "epochs": 30,
    "max_tokens": -1, "val_fraction": 0.1, "seed": 0, "device": "auto", "time_budget": 0.0, "cell": "rnn",
    "mode": "book",
}
# What a field not given becomes, per cell.  The RNN keeps the book's one-hot inputs and its
# earlier defaults; the gated cells decay the learning rate to 0 over the run, and the LSTM reads a
# 64-wide embedding (with dropout; at 256x2 with three dropouts of 0.5 the GRU learns slower with
# one).  The LSTM's are the best held-out perplexity of ~30 settings tried within one time budget
# (benchmarks/sweep.py; the README has the table and the machine).
CELL_DEFAULTS = {
    "rnn": {"hidden": 256, "layers": 1, "dropout": 0.0, "weight_decay": 0.0, "batch": 16, "schedule": "constant",
            "embed": 0},
    "gru": {"hidden": 256, "layers": 2, "dropout": 0.5, "weight_decay": 0.1, "batch": 32, "schedule": "cosine",
            "embed": 0},
    "lstm": {"hidden": 512, "layers": 1, "dropout": 0.5, "weight_decay": 0.0, "batch": 32, "schedule": "cosine",
             "embed": 64},
}
# A checkpoint written before a field existed trained as the field's absence meant: one-hot
# inputs, a constant lr, the book's preprocessing.
SAVED_BEFORE = {"embed": 0, "schedule": "constant", "mode": "book"}


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters, every one set: build one with :func:`resolve` (or ``dataclasses.replace``
    on one), never field by field.  Frozen, so a copy can cross threads and be read anywhere."""

    token: str            # char or word
    iterator: str         # random sampling, or sequential partitioning (carries the state)
    hidden: int
    steps: int            # time steps per sequence
    batch: int
    lr: float
    clip: float           # gradient clipping's theta
    optimizer: str        # sgd or adam
    epochs: int
    max_tokens: int       # <= 0: the whole corpus
    val_fraction: float   # the last fraction of the tokens; 0: no validation
    seed: int
    device: str
    time_budget: float    # stop once the run has trained this many seconds; 0: no limit
    cell: str             # rnn, gru or lstm
    layers: int           # stacked recurrent layers (d2l 10.3)
    dropout: float        # between layers and before the output layer, while training
    weight_decay: float   # decoupled (AdamW) for adam, L2 for sgd
    schedule: str         # the learning rate: constant, or cosine from lr down to 0 over the run
    embed: int            # gru/lstm: an embedding this wide feeds the first layer; 0: one-hot
    mode: str             # the text's preprocessing (engine.corpus.preprocess): book or raw

    def lr_at(self, progress: float) -> float:
        """The learning rate a fraction ``progress`` (0 to 1) into the run: ``lr`` throughout, or
        for "cosine" lr (1 + cos(pi progress)) / 2, from lr at the start down to 0 at the end."""
        if self.schedule != "cosine":
            return self.lr
        return self.lr * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))

    def validate(self) -> None:
        def bad(field: str, why: str):
            raise ConfigError(f"{field} {getattr(self, field)!r}: {why}", field)

        for field, choices in (("token", TOKEN_LEVELS), ("iterator", ITERATORS), ("optimizer", OPTIMIZERS),
                               ("cell", CELLS), ("schedule", SCHEDULES), ("mode", MODES)):
            if not isinstance(getattr(self, field), str) or getattr(self, field) not in choices:
                bad(field, f"use one of: {', '.join(choices)}")
        for field, high in (("hidden", 8192), ("steps", 10_000), ("batch", 100_000), ("epochs", 10**6),
                            ("layers", 16)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                bad(field, f"must be a whole number from 1 to {high:,}")
        if isinstance(self.embed, bool) or not isinstance(self.embed, int) or not 0 <= self.embed <= 8192:
            bad("embed", "must be a whole number from 0 (one-hot inputs) to 8,192")
        if self.embed and self.cell == "rnn":
            bad("embed", "the book's RNN reads one-hot vectors; an embedding is for --cell gru or lstm (or use 0)")
        for field, high in (("lr", MAX_LR), ("clip", MAX_CLIP)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= high:
                bad(field, f"must be a positive number up to {high:g}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0 <= self.dropout < 1:
            bad("dropout", "must be a probability from 0 up to (not including) 1")
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) \
                or not 0 <= self.weight_decay <= MAX_WEIGHT_DECAY:
            bad("weight_decay", f"must be a number from 0 to {MAX_WEIGHT_DECAY:g}")
        if not isinstance(self.max_tokens, int) or isinstance(self.max_tokens, bool):
            bad("max_tokens", "must be a whole number (0 or less: the whole corpus)")
        if isinstance(self.val_fraction, bool) or not isinstance(self.val_fraction, (int, float)) \
                or not 0 <= self.val_fraction <= 0.5:
            bad("val_fraction", "must be from 0 to 0.5")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed <= MAX_SEED:
            bad("seed", f"must be a whole number from 0 to {MAX_SEED:,}")
        if not isinstance(self.device, str) or not (self.device in DEVICES or self.device.startswith("cuda:")):
            bad("device", f"use one of: {', '.join(DEVICES)} (or cuda:N)")
        if isinstance(self.time_budget, bool) or not isinstance(self.time_budget, (int, float)) \
                or not 0 <= self.time_budget <= MAX_SECONDS:
            bad("time_budget", f"must be a number of seconds up to {MAX_SECONDS:,}, 0 for none")


FIELDS = tuple(f.name for f in fields(TrainConfig))


def _choice(given: Mapping, field: str, choices: tuple) -> str:
    value = given.get(field, DEFAULTS[field])
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{field} {value!r}: use one of: {', '.join(choices)}", field)
    return value


def defaults(given: Mapping) -> dict:
    """What every field that ``given`` leaves out becomes, given the rest:

    - a learning rate without an optimiser means the book's SGD (its recipes give ``--lr 1``;
      Adam at such a rate diverges);
    - a time budget without epochs has no epoch limit (the clock ends the run, and paces the
      schedule);
    - the learning rate is the optimiser's default (Adam's per cell), and the sizes, dropout,
      weight decay, schedule and embedding the cell's (CELL_DEFAULTS).
    """
    cell = _choice(given, "cell", CELLS)
    filled = {**DEFAULTS, **CELL_DEFAULTS[cell]}
    if "lr" in given:
        filled["optimizer"] = "sgd"
    if given.get("time_budget"):
        filled["epochs"] = EPOCHS_UNDER_A_BUDGET
    optimizer = _choice({**filled, **given}, "optimizer", OPTIMIZERS)
    filled["lr"] = ADAM_LR.get(cell, DEFAULT_LR["adam"]) if optimizer == "adam" else DEFAULT_LR["sgd"]
    return {field: value for field, value in filled.items() if field not in given}


def resolve(given: Mapping = (), /, *, saved: bool = False, **options) -> TrainConfig:
    """The validated TrainConfig for the options given (``given`` and ``options``; a value of
    None counts as not given), every other field from :func:`defaults`.

    ``saved``: ``given`` is the configuration a checkpoint recorded; fields it lacks take what
    their absence meant when it was written (SAVED_BEFORE), and fields this version does not know
    are ignored.  Otherwise an unknown field is a ConfigError.
    """
    given = {field: value for field, value in {**dict(given), **options}.items() if value is not None}
    unknown = sorted(set(given) - set(FIELDS))
    if saved:
        given = {**SAVED_BEFORE, **{field: value for field, value in given.items() if field in FIELDS}}
    elif unknown:
        raise ConfigError(f"{unknown[0]}: not a training option; use one of: {', '.join(FIELDS)}", unknown[0])
    config = TrainConfig(**{**defaults(given), **given})
    config.validate()
    return config
