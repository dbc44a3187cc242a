"""n-gram statistics of a token array of any length, counted a chunk at a time with torch ops.

The book counts n-grams with a ``Counter`` of tuples (engine.ngram); on a 60 MB text that is
gigabytes of Python objects.  Here an n-gram is an integer code and a chunk's codes are counted
with ``bincount`` (or ``unique`` when the code space is large), then merged; one pass over the
tokens feeds every count, so a memory-mapped token file is read once and never copied whole.

- :class:`DistinctNgrams`: every distinct n-gram of the whole text with its count and first
  position (for the top n-grams, ties in first-occurrence order as ``Counter.most_common``
  keeps them, and for Zipf's law).  The code of (t_1, ..., t_n) is the base-V number t_1 ... t_n.
- :class:`HeldOutCounts`: the add-alpha baselines (engine.ngram.LaplaceNgramLM) need, for each
  n-gram of the validation part, its count and its context's count in the training part only.
  The validation k-grams (k = 1..n) are numbered first, each through its (k-1)-gram prefix's
  number (code = (number of the prefix + 1) * V + last token, so codes stay below N * V for any
  vocabulary); the training part is then matched against them a chunk at a time.  Memory is
  bounded by the validation part's distinct n-grams.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .errors import ConfigError, CorpusError
from .ngram import BASELINE_ALPHAS, BASELINE_NS, TRAIN_FRACTION, NgramBaseline, split_train_val

CHUNK_TOKENS = 1 << 21  # n-gram starts per chunk
DENSE_LIMIT = 1 << 22   # code spaces up to this size are counted in a table, larger ones by sorting
INT64_MAX = 2 ** 63 - 1


def as_tokens(tokens) -> torch.Tensor:
    """A 1-D tensor of token indices (any integer dtype), a list becoming int64."""
    return tokens if isinstance(tokens, torch.Tensor) else torch.tensor(list(tokens), dtype=torch.long)


def count_pass(tokens: torch.Tensor, counters: Sequence, *, progress: Callable[[int, int], None] | None = None,
               chunk: int = CHUNK_TOKENS) -> None:
    """Feed every counter the tokens a chunk at a time: ``counter.add(window, start)``, where
    ``window`` (int64) holds the tokens from position ``start`` on, with ``counter.reach - 1``
    tokens past the chunk so that every n-gram starting in it is whole."""
    reach = max(c.reach for c in counters)
    total = len(tokens)
    for start in range(0, total, chunk):
        window = tokens[start:start + chunk + reach - 1].to(torch.long)
        for counter in counters:
            counter.add(window, start, chunk)
        if progress is not None:
            progress(min(start + chunk, total), total)


def _codes(window: torch.Tensor, n: int, base: int) -> torch.Tensor:
    """The base-``base`` codes of the n-grams starting at each position of ``window``."""
    length = len(window) - n + 1
    code = window[:length].clone()
    for i in range(1, n):
        code.mul_(base).add_(window[i:i + length])
    return code


class DistinctNgrams:
    """Counts and first positions of every distinct n-gram of a text (n fixed)."""

    def __init__(self, n: int, vocab_size: int, num_tokens: int):
        if n < 1:
            raise ConfigError(f"n-grams need n >= 1, not {n}")
        if vocab_size ** n > INT64_MAX:
            raise CorpusError(f"a vocabulary of {vocab_size:,} is too large to count {n}-grams; use --token char")
        self.n, self.reach, self.vocab_size, self.num_tokens = n, n, vocab_size, num_tokens
        self.space = vocab_size ** n
        self.dense = self.space <= DENSE_LIMIT
        if self.dense:  # a table over every possible code
            self.counts = torch.zeros(self.space, dtype=torch.long)
            self.first = torch.full((self.space,), num_tokens, dtype=torch.long)
        else:  # the distinct codes seen so far, sorted
            self.codes = torch.empty(0, dtype=torch.long)
            self.counts = torch.empty(0, dtype=torch.long)
            self.first = torch.empty(0, dtype=torch.long)

    def add(self, window: torch.Tensor, start: int, chunk: int) -> None:
        own = min(chunk, self.num_tokens - self.n + 1 - start)  # n-grams that start in this chunk
        if own <= 0:
            return
        code = _codes(window[:own + self.n - 1], self.n, self.vocab_size)
        positions = torch.arange(start, start + own)
        if self.dense:
            self.counts += torch.bincount(code, minlength=self.space)
            self.first.scatter_reduce_(0, code, positions, "amin")
            return
        codes, inverse = torch.unique(torch.cat([self.codes, code]), return_inverse=True)
        counts = torch.zeros(len(codes), dtype=torch.long)
        counts.index_add_(0, inverse, torch.cat([self.counts, torch.ones_like(code)]))
        first = torch.full((len(codes),), self.num_tokens, dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.cat([self.first, positions]), "amin")
        self.codes, self.counts, self.first = codes, counts, first

    def table(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(codes, counts, first positions)`` of the n-grams that occur."""
        if not self.dense:
            return self.codes, self.counts, self.first
        seen = self.counts.nonzero().squeeze(1)
        return seen, self.counts[seen], self.first[seen]

    def top(self, k: int) -> list[tuple[tuple[int, ...], int]]:
        """The ``k`` most frequent n-grams as token-index tuples; ties in first-occurrence order."""
        codes, counts, first = self.table()
        order = torch.sort(first).indices
        order = order[torch.sort(counts[order], descending=True, stable=True).indices][:k]
        grams = []
        for code, count in zip(codes[order].tolist(), counts[order].tolist()):
            digits = []
            for _ in range(self.n):
                code, digit = divmod(code, self.vocab_size)
                digits.append(digit)
            grams.append((tuple(reversed(digits)), count))
        return grams

    def frequencies(self) -> torch.Tensor:
        """The counts in descending order (rank 1 first): Zipf's law."""
        return torch.sort(self.table()[1], descending=True).values


class HeldOutCounts:
    """For each k-gram (k = 1..n) of the validation part: how often it occurs in the training
    part, and how often it occurs there followed by a token (its count as a context)."""

    def __init__(self, val: torch.Tensor, n: int, vocab_size: int, num_train: int):
        self.reach, self.vocab_size, self.num_train = n, vocab_size, num_train
        val = val.to(torch.long)
        self.grams: list[torch.Tensor] = []     # grams[k-1]: sorted codes of the distinct validation k-grams
        self.in_val: list[torch.Tensor] = []    # in_val[k-1][g]: how often k-gram g occurs in it
        self.as_context: list[torch.Tensor] = []  # ... followed by a token (as the context of a (k+1)-gram)
        ids = None
        for k in range(1, n + 1):
            code = val if k == 1 else ids[:-1].add_(1).mul_(vocab_size).add_(val[k - 1:])
            del ids  # (the codes reuse its memory)
            grams, ids = torch.unique(code, return_inverse=True)
            del code
            self.grams.append(grams)
            self.in_val.append(torch.bincount(ids, minlength=len(grams)))
            self.as_context.append(torch.bincount(ids[:-1], minlength=len(grams)))
        self.num_val = len(val)
        self.counts = [torch.zeros(len(g), dtype=torch.long) for g in self.grams]
        self.context_counts = [torch.zeros(len(g), dtype=torch.long) for g in self.grams]
        # code -> 1 + number through a table where the code space is small, else by binary search
        self.tables: list[torch.Tensor | None] = []
        for k, grams in enumerate(self.grams, start=1):
            space = vocab_size if k == 1 else (len(self.grams[k - 2]) + 1) * vocab_size
            table = None
            if space <= DENSE_LIMIT:
                table = torch.zeros(space, dtype=torch.long)
                table[grams] = torch.arange(1, len(grams) + 1)
            self.tables.append(table)

    def _numbers(self, k: int, code: torch.Tensor) -> torch.Tensor:
        """1 + the number of each code's validation k-gram, 0 where the k-gram is not one."""
        if self.tables[k - 1] is not None:
            return self.tables[k - 1][code]
        grams = self.grams[k - 1]
        pos = torch.searchsorted(grams, code).clamp_(max=len(grams) - 1)
        return torch.where(grams[pos] == code, pos + 1, 0)

    def add(self, window: torch.Tensor, start: int, chunk: int) -> None:
        window = window[:self.num_train - start]  # the training part only
        number = None
        for k in range(1, self.reach + 1):
            own = min(chunk, self.num_train - k + 1 - start)      # k-grams that start in this chunk
            if own <= 0:
                return
            followed = min(chunk, self.num_train - k - start)     # ... and have a token after them
            code = window if k == 1 else number[:-1] * self.vocab_size + window[k - 1:]
            number = self._numbers(k, code)
            bins = len(self.grams[k - 1]) + 1
            self.counts[k - 1] += torch.bincount(number[:own], minlength=bins)[1:]
            if followed > 0:
                self.context_counts[k - 1] += torch.bincount(number[:followed], minlength=bins)[1:]

    def perplexity(self, n: int, alpha: float) -> float:
        """Held-out perplexity of the add-alpha n-gram model: every validation token from the n-th
        on, given its n-1 predecessors inside the validation part (LaplaceNgramLM.perplexity).
        Summed by distinct n-gram and context: one log each, not one per token."""
        if alpha == 0 and bool(((self.in_val[n - 1] > 0) & (self.counts[n - 1] == 0)).any()):
            return math.inf
        scored = self.num_val - n + 1
        total = _sum_log(self.in_val[n - 1], self.counts[n - 1], alpha)
        norm = alpha * self.vocab_size
        if n == 1:
            total -= scored * math.log(self.num_train + norm)
        else:
            total -= _sum_log(self.as_context[n - 2], self.context_counts[n - 2], norm)
        return math.exp(-total / scored)

    def baselines(self, ns: Sequence[int], alphas: Sequence[float]) -> list[NgramBaseline]:
        return [NgramBaseline(n, alpha, self.perplexity(n, alpha)) for n in ns for alpha in alphas]


def _sum_log(times: torch.Tensor, counts: torch.Tensor, add: float) -> float:
    """sum over g of times[g] * log(counts[g] + add), over the g that occur."""
    used = times.nonzero().squeeze(1)
    return float((times[used].double() * torch.log(counts[used].double() + add)).sum())


def ngram_baselines(tokens, vocab_size: int, ns: Sequence[int] = BASELINE_NS,
                    alphas: Sequence[float] = BASELINE_ALPHAS, train_fraction: float = TRAIN_FRACTION, *,
                    progress: Callable[[int, int], None] | None = None) -> list[NgramBaseline]:
    """Held-out perplexity of each (n, alpha) model: fit on the first 90% of the tokens, score
    the last 10% (from its n-th token on, with contexts taken inside the validation part).  The
    yardstick for every RNN result; the same figures as fitting LaplaceNgramLM on the list."""
    held_out = held_out_counts(as_tokens(tokens), vocab_size, ns, alphas, train_fraction)
    count_pass(as_tokens(tokens)[:held_out.num_train], [held_out], progress=progress)
    return held_out.baselines(ns, alphas)


def held_out_counts(tokens: torch.Tensor, vocab_size: int, ns: Sequence[int], alphas: Sequence[float],
                    train_fraction: float) -> HeldOutCounts:
    """The counter for :func:`ngram_baselines`, its arguments checked (for a caller that feeds it
    in its own pass)."""
    if any(alpha < 0 for alpha in alphas):
        raise ConfigError(f"the smoothing alpha must be >= 0, not {min(alphas)}")
    train, val = split_train_val(tokens, train_fraction)
    n = max(ns)
    if len(train) < n:
        raise CorpusError(f"{len(train)} training tokens are too few for a {n}-gram model")
    if len(val) < n:
        raise CorpusError(f"{len(val)} tokens are too few to score with a {n}-gram model")
    return HeldOutCounts(val, n, vocab_size, len(train))


def held_out_perplexity(tokens, n: int, alpha: float, vocab_size: int,
                        train_fraction: float = TRAIN_FRACTION) -> float:
    """One :func:`ngram_baselines` entry."""
    return ngram_baselines(tokens, vocab_size, (n,), (alpha,), train_fraction)[0].val_perplexity
