"""Minibatches from one long token sequence (d2l 8.3, seed notes "长序列数据").

Both iterators start each epoch at a random offset k in [0, num_steps) so the
model does not always see the same cut of the text; k is narrowed only when
the corpus is too short to leave one minibatch after a larger offset.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

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
    if isinstance(corpus, torch.Tensor):
        return corpus.to(torch.long)
    return torch.tensor(list(corpus), dtype=torch.long)


def seq_data_iter_random(corpus: Sequence[int], batch_size: int, num_steps: int, *,
                         generator: torch.Generator | None = None
                         ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Random sampling: non-overlapping subsequences at k, k + num_steps, ...
    in shuffled order, ``batch_size`` a minibatch; neighbours are unrelated."""
    k = _offset(num_steps, _check(corpus, batch_size, num_steps), generator)
    data = _as_tensor(corpus)
    num_subseqs = (len(data) - 1 - k) // num_steps
    starts = k + num_steps * torch.randperm(num_subseqs, generator=generator)
    num_batches = num_subseqs // batch_size
    window = torch.arange(num_steps)
    for b in range(num_batches):
        idx = starts[b * batch_size:(b + 1) * batch_size, None] + window
        yield data[idx], data[idx + 1]


def seq_data_iter_sequential(corpus: Sequence[int], batch_size: int, num_steps: int, *,
                             generator: torch.Generator | None = None
                             ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Sequential partitioning: the text after offset k is cut into
    ``batch_size`` rows; row i of minibatch b+1 continues row i of minibatch b."""
    k = _offset(num_steps, _check(corpus, batch_size, num_steps), generator)
    data = _as_tensor(corpus)
    num_tokens = ((len(data) - 1 - k) // batch_size) * batch_size
    Xs = data[k:k + num_tokens].reshape(batch_size, -1)
    Ys = data[k + 1:k + 1 + num_tokens].reshape(batch_size, -1)
    num_batches = Xs.shape[1] // num_steps
    for b in range(num_batches):
        cols = slice(b * num_steps, (b + 1) * num_steps)
        yield Xs[:, cols], Ys[:, cols]


def num_minibatches(num_tokens: int, batch_size: int, num_steps: int, offset: int, *,
                    sequential: bool) -> int:
    """The book's minibatch count for an epoch starting at ``offset``."""
    if sequential:
        return ((num_tokens - 1 - offset) // batch_size) // num_steps
    return ((num_tokens - 1 - offset) // num_steps) // batch_size
