"""Minibatches from one long token sequence (d2l 8.3, seed notes "长序列数据").

Both iterators start each epoch at a random offset k in [0, num_steps) so the
model does not always see the same cut of the text; k is narrowed only when
the corpus is too short to leave one minibatch after a larger offset.

An epoch's minibatches are a :class:`Minibatches`: the row starts are drawn at
once (so the random draws are those of the book's generators), the tokens are read
only when a minibatch is asked for.  Row i of minibatch b is the window
``corpus[s : s + num_steps + 1]`` at its start s, widened to int64 then: X is its
first num_steps tokens, Y its last.  A memory-mapped token file is never copied whole.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import ConfigError


def _check(corpus: Sequence[int], batch_size: int, num_steps: int) -> int:
    if batch_size < 1 or num_steps < 1:
        raise ConfigError("batch size and num_steps must be at least 1")
    needed = batch_size * num_steps + 1
    if len(corpus) < needed:
        raise ConfigError(
            f"the corpus has {len(corpus):,} tokens, too few for one minibatch of "
            f"{batch_size} x {num_steps} (needs {needed:,}); lower --batch or --steps, or use more text"
        )
    return len(corpus) - needed  # slack: the largest offset that still leaves a minibatch


def _offset(num_steps: int, slack: int, generator: torch.Generator | None) -> int:
    high = min(num_steps, slack + 1)
    return int(torch.randint(0, high, (1,), generator=generator))


def _as_tensor(corpus: Sequence[int]) -> torch.Tensor:
    """A tensor corpus as it is (any integer dtype, e.g. a token file's uint8); a list as int64."""
    if isinstance(corpus, torch.Tensor):
        return corpus
    return torch.tensor(list(corpus), dtype=torch.long)


class Minibatches(Sequence):
    """One epoch's minibatches over ``data``: ``starts[b, i]`` is where row i of minibatch b
    begins.  Indexing gives ``(X, Y)``, int64 tensors of shape (rows, num_steps); slicing gives
    the later minibatches (a resumed epoch skips what it did), :meth:`shard` a subset of rows."""

    def __init__(self, data: torch.Tensor, starts: torch.Tensor, num_steps: int):
        self.data, self.starts, self.num_steps = data, starts, num_steps
        self._window = torch.arange(num_steps + 1)

    def __len__(self) -> int:
        return len(self.starts)

    def __iter__(self):
        for b in range(len(self)):
            yield self[b]

    def __getitem__(self, b):
        if isinstance(b, slice):
            return Minibatches(self.data, self.starts[b], self.num_steps)
        rows = self.data[self.starts[b][:, None] + self._window].to(torch.long)
        return rows[:, :-1], rows[:, 1:]

    def shard(self, rank: int, world_size: int) -> Minibatches:
        """Rows ``rank * B/W`` up to ``(rank + 1) * B/W`` of every minibatch: the streams one of
        ``world_size`` data-parallel workers trains on.  Together the shards are the whole
        minibatch, and with sequential partitioning row i still continues row i."""
        rows = self.starts.shape[1]
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is not one of the {world_size} workers")
        if rows % world_size:
            raise ConfigError(f"{world_size} workers cannot share minibatches of {rows} rows evenly; "
                              f"use a --batch that is a multiple of {world_size}")
        per = rows // world_size
        return Minibatches(self.data, self.starts[:, rank * per:(rank + 1) * per], self.num_steps)


def seq_data_iter_random(corpus: Sequence[int], batch_size: int, num_steps: int, *,
                         generator: torch.Generator | None = None) -> Minibatches:
    """Random sampling: non-overlapping subsequences at k, k + num_steps, ...
    in shuffled order, ``batch_size`` a minibatch; neighbours are unrelated."""
    k = _offset(num_steps, _check(corpus, batch_size, num_steps), generator)
    data = _as_tensor(corpus)
    num_subseqs = (len(data) - 1 - k) // num_steps
    starts = k + num_steps * torch.randperm(num_subseqs, generator=generator)
    num_batches = num_subseqs // batch_size
    return Minibatches(data, starts[:num_batches * batch_size].reshape(num_batches, batch_size), num_steps)


def seq_data_iter_sequential(corpus: Sequence[int], batch_size: int, num_steps: int, *,
                             generator: torch.Generator | None = None) -> Minibatches:
    """Sequential partitioning: the text after offset k is cut into
    ``batch_size`` rows; row i of minibatch b+1 continues row i of minibatch b."""
    k = _offset(num_steps, _check(corpus, batch_size, num_steps), generator)
    data = _as_tensor(corpus)
    row_len = (len(data) - 1 - k) // batch_size
    num_batches = row_len // num_steps
    # row i starts at k + i * row_len; minibatch b reads its columns b * num_steps onwards
    starts = k + row_len * torch.arange(batch_size) + num_steps * torch.arange(num_batches)[:, None]
    return Minibatches(data, starts, num_steps)


def num_minibatches(num_tokens: int, batch_size: int, num_steps: int, offset: int, *,
                    sequential: bool) -> int:
    """The book's minibatch count for an epoch starting at ``offset``."""
    if sequential:
        return ((num_tokens - 1 - offset) // batch_size) // num_steps
    return ((num_tokens - 1 - offset) // num_steps) // batch_size
