"""Training hyperparameters, without torch, so the CLI can show defaults and check options fast."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .corpus import MODES
from .errors import ConfigError
from .vocab import TOKEN_LEVELS

ITERATORS = ("sequential", "random")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine")
DEFAULT_LR = {"sgd": 1.0, "adam": 0.003}  # the book's lr for SGD; a tuned one for Adam
ADAM_LR = {"lstm": 0.008}  # per cell where Adam's tuned rate differs (the LSTM's, with its cosine decay)
DEVICES = ("auto", "cpu", "cuda")
CELLS = ("rnn", "gru", "lstm")
# Ranges that keep the arithmetic finite: past them an update overflows float32 (a learning rate
# of 1e38), a seed overflows torch's generators (the dropout seed is seed x 1,000,003 + step), a
# budget stops meaning anything.
MAX_LR = 1000.0
MAX_CLIP = 1e6
MAX_WEIGHT_DECAY = 100.0
MAX_SECONDS = 10 ** 6  # about 11.6 days
MAX_SEED = 2 ** 32 - 1
# What a field left at None becomes, per cell.  The RNN keeps the book's one-hot inputs and its
# earlier defaults; the gated cells decay the learning rate to 0 over the run, and the LSTM reads a
# 64-wide embedding (with dropout; at 256x2 with three dropouts of 0.5 the GRU learns slower with
# one).  The LSTM's are the best held-out perplexity of ~30 settings tried within a 5-minute budget
# on this 2-core CPU (benchmarks/sweep.py; the README has the table).
CELL_DEFAULTS = {
    "rnn": {"hidden": 256, "layers": 1, "dropout": 0.0, "weight_decay": 0.0, "batch": 16, "schedule": "constant",
            "embed": 0},
    "gru": {"hidden": 256, "layers": 2, "dropout": 0.5, "weight_decay": 0.1, "batch": 32, "schedule": "cosine",
            "embed": 0},
    "lstm": {"hidden": 512, "layers": 1, "dropout": 0.5, "weight_decay": 0.0, "batch": 32, "schedule": "cosine",
             "embed": 64},
}


@dataclass
class TrainConfig:
    """Hyperparameters.  The defaults (Adam, random sampling, 256 hidden units, 64 steps) reach a
    validation perplexity under 4.9 on the whole of *The Time Machine* in a few minutes on two
    CPU cores.  The book's recipe is ``optimizer="sgd"`` (lr 1), ``hidden=512, steps=35, batch=32``.
    ``hidden``, ``layers``, ``dropout``, ``weight_decay``, ``batch``, ``schedule`` and ``embed`` left
    at None take the cell's CELL_DEFAULTS."""

    token: str = "char"
    iterator: str = "random"
    hidden: int | None = None      # None (here and below): the cell's default, CELL_DEFAULTS
    steps: int = 64
    batch: int | None = None
    lr: float | None = None        # None: the optimizer's default, DEFAULT_LR (Adam: ADAM_LR per cell)
    clip: float = 1.0
    optimizer: str = "adam"
    epochs: int = 30
    max_tokens: int = -1           # <= 0: the whole corpus
    val_fraction: float = 0.1      # the last fraction of the tokens; 0: no validation
    seed: int = 0
    device: str = "auto"
    time_budget: float = 0.0       # stop once the run has trained this many seconds; 0: no limit
    cell: str = "rnn"              # rnn, gru or lstm
    layers: int | None = None      # stacked recurrent layers (d2l 10.3)
    dropout: float | None = None   # between layers and before the output layer, while training
    weight_decay: float | None = None  # decoupled (AdamW) for adam, L2 for sgd
    schedule: str | None = None    # the learning rate: constant, or cosine from lr down to 0 over the run
    embed: int | None = None       # gru/lstm: an embedding this wide feeds the first layer; 0: one-hot
    mode: str = "book"             # the text's preprocessing (engine.corpus.preprocess): book or raw

    def __post_init__(self):
        if self.lr is None:
            self.lr = ADAM_LR.get(self.cell, DEFAULT_LR["adam"]) if self.optimizer == "adam" \
                else DEFAULT_LR.get(self.optimizer, DEFAULT_LR["sgd"])
        for field, value in CELL_DEFAULTS.get(self.cell, CELL_DEFAULTS["rnn"]).items():
            if getattr(self, field) is None:
                setattr(self, field, value)

    def lr_at(self, progress: float) -> float:
        """The learning rate a fraction ``progress`` (0 to 1) into the run: ``lr`` throughout, or
        for "cosine" lr (1 + cos(pi progress)) / 2, from lr at the start down to 0 at the end."""
        if self.schedule != "cosine":
            return self.lr
        return self.lr * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))

    def validate(self) -> None:
        def bad(field: str, why: str):
            raise ConfigError(f"{field} {getattr(self, field)!r}: {why}")

        for field, choices in (("token", TOKEN_LEVELS), ("iterator", ITERATORS), ("optimizer", OPTIMIZERS),
                               ("cell", CELLS), ("schedule", SCHEDULES), ("mode", MODES)):
            if getattr(self, field) not in choices:
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
        if not isinstance(self.val_fraction, (int, float)) or not 0 <= self.val_fraction <= 0.5:
            bad("val_fraction", "must be from 0 to 0.5")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed <= MAX_SEED:
            bad("seed", f"must be a whole number from 0 to {MAX_SEED:,}")
        if not isinstance(self.device, str) or not (self.device in DEVICES or self.device.startswith("cuda:")):
            bad("device", f"use one of: {', '.join(DEVICES)} (or cuda:N)")
        if isinstance(self.time_budget, bool) or not isinstance(self.time_budget, (int, float)) \
                or not 0 <= self.time_budget <= MAX_SECONDS:
            bad("time_budget", f"must be a number of seconds up to {MAX_SECONDS:,}, 0 for none")
