"""How the training loop cuts the text into minibatches, shown (d2l 8.3.4, seed notes "长序列数据").

The previews are the engine's own iterators' minibatches (engine.data): an epoch's
:class:`~engine.data.Minibatches` holds where each row starts in the text (``starts``) and reads
only the minibatches asked for, so a preview of a large token file costs its few windows.  The
generator is the trainer's: a run with ``seed`` draws its minibatches from
``Generator().manual_seed(seed + 1)``, its first epoch from that generator's first draws.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import ITERATORS
from .data import seq_data_iter_random, seq_data_iter_sequential
from .errors import ConfigError
from .train import split_corpus

MAX_COUNT = 100  # minibatches in one preview


@dataclass
class MinibatchRow:
    """Row ``row`` of minibatch ``batch`` (both from 0): X's tokens, Y's (the same shifted by one),
    where X starts in the training text, and whether it starts where the same row of the previous
    minibatch ended (so that the hidden state carried from there belongs to the text before it)."""

    batch: int
    row: int
    start: int
    X: list[int]
    Y: list[int]
    continues: bool


def data_generator(seed: int) -> torch.Generator:
    """The generator the trainer with ``seed`` draws its minibatches from."""
    return torch.Generator().manual_seed(seed + 1)


def first_minibatches(corpus, batch: int, steps: int, iterator: str, count: int, *, seed: int = 0,
                      val_fraction: float = 0.1) -> list[list[MinibatchRow]]:
    """The first ``count`` minibatches (fewer if the epoch has fewer) of ``batch`` rows of
    ``steps`` tokens that a run with this ``seed`` and ``iterator`` ("random" or "sequential")
    trains on first, from the training part of ``corpus`` (all but the last ``val_fraction``)."""
    for name, value, high in (("batch", batch, 100_000), ("steps", steps, 10_000), ("count", count, MAX_COUNT)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise ConfigError(f"{name} {value!r}: must be a whole number from 1 to {high:,}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) \
            or not 0 <= val_fraction <= 0.5:
        raise ConfigError(f"val_fraction {val_fraction!r}: must be from 0 to 0.5")
    if iterator not in ITERATORS:
        raise ConfigError(f"iterator {iterator!r}: use one of: {', '.join(ITERATORS)}")
    train, _ = split_corpus(corpus, val_fraction)
    make = seq_data_iter_sequential if iterator == "sequential" else seq_data_iter_random
    batches = make(train, batch, steps, generator=data_generator(seed))
    minibatches: list[list[MinibatchRow]] = []
    ends: list[int] = []
    for j, (X, Y) in zip(range(count), batches):
        starts = batches.starts[j].tolist()
        minibatches.append([
            MinibatchRow(j, i, start, X[i].tolist(), Y[i].tolist(), continues=bool(ends) and start == ends[i])
            for i, start in enumerate(starts)])
        ends = [start + steps for start in starts]
    return minibatches


def tokens_text(vocab, indices: list[int], token: str) -> str:
    """Tokens as text: characters side by side, words with a space between them."""
    return ("" if token == "char" else " ").join(vocab.to_tokens(list(indices)))
