"""n-gram statistics and Laplace-smoothed n-gram language models (d2l 8.3).

Tokens are integer indices (a corpus from :func:`engine.tokenfile.load_corpus`);
n-grams are tuples of them.  Counting is ``collections.Counter`` over
``zip`` of shifted copies of the sequence, as the book does: one C-level pass per n.
engine.ngram_counts counts the same n-grams over texts of any length with torch ops,
and fits the baselines below (held-out perplexity of each add-alpha model) that way.
"""
from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ConfigError, CorpusError

ZIPF_WINDOW = (10, 1000)
BASELINE_NS = (1, 2, 3, 4, 5)
BASELINE_ALPHAS = (1.0, 0.1, 0.01)
TRAIN_FRACTION = 0.9


def ngram_counts(tokens: Sequence[int], n: int) -> collections.Counter:
    """Counts of every n-gram (a tuple of n tokens) in ``tokens``."""
    if n < 1:
        raise ConfigError(f"n-grams need n >= 1, not {n}")
    return collections.Counter(zip(*(tokens[i:] for i in range(n))))


def zipf_exponent(freqs: Sequence[int], window: tuple[int, int] = ZIPF_WINDOW) -> float:
    """Zipf's law exponent alpha in ``freq ~ rank ** -alpha``.

    ``freqs`` are sorted in descending order (rank 1 first).  The fit is least
    squares on log frequency vs log rank over the ranks in ``window``, capped
    at the ranks that exist; when fewer than two ranks reach the window's
    start, all ranks are used.  NaN when there are fewer than two ranks.
    """
    lo, hi = window
    hi = min(hi, len(freqs))
    if hi - lo < 1:
        lo = 1
    if hi - lo < 1:
        return math.nan
    xs = [math.log(r) for r in range(lo, hi + 1)]
    ys = [math.log(float(f)) for f in freqs[lo - 1:hi]]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    return -sxy / sxx


def zipf_curve(freqs: Sequence[int], points: int = 200) -> tuple[list[int], list[int]]:
    """``(ranks, freqs)`` at about ``points`` log-spaced ranks, for a log-log plot."""
    if not len(freqs):
        return [], []
    last = len(freqs)
    ranks = sorted({min(last, round(last ** (i / (points - 1)))) for i in range(points)})
    return ranks, [int(freqs[r - 1]) for r in ranks]


@dataclass(frozen=True)
class LaplaceNgramLM:
    """P(w | ctx) = (count(ctx, w) + alpha) / (count(ctx) + alpha * |V|).

    ``count(ctx)`` counts ctx as the context of an n-gram (it is followed by a
    token), so the probabilities over the vocabulary sum to one.  With
    ``alpha = 0`` this is the unsmoothed estimate, and an unseen n-gram (or
    context) gets probability 0.
    """

    n: int
    vocab_size: int
    alpha: float
    counts: collections.Counter
    context_counts: collections.Counter

    @classmethod
    def fit(cls, tokens: Sequence[int], n: int, vocab_size: int, alpha: float = 1.0) -> "LaplaceNgramLM":
        if alpha < 0:
            raise ConfigError(f"the smoothing alpha must be >= 0, not {alpha}")
        if len(tokens) < n:
            raise CorpusError(f"{len(tokens)} training tokens are too few for a {n}-gram model")
        counts = ngram_counts(tokens, n)
        if n == 1:
            contexts = collections.Counter({(): len(tokens)})
        else:
            # contexts are the (n-1)-grams that some token follows: all but the last one
            contexts = ngram_counts(tokens[:-1], n - 1)
        return cls(n, vocab_size, alpha, counts, contexts)

    def prob(self, context: Sequence[int], token: int) -> float:
        """P(token | the last n-1 tokens of context)."""
        ctx = tuple(context[len(context) - self.n + 1:]) if self.n > 1 else ()
        if len(ctx) != self.n - 1:
            raise ConfigError(f"a {self.n}-gram model needs {self.n - 1} context tokens, got {len(ctx)}")
        numerator = self.counts.get(ctx + (token,), 0) + self.alpha
        denominator = self.context_counts.get(ctx, 0) + self.alpha * self.vocab_size
        return numerator / denominator if denominator else 0.0

    def perplexity(self, tokens: Sequence[int]) -> float:
        """exp of the mean negative log-probability of ``tokens[n-1:]``, each
        given its n-1 predecessors in ``tokens``; inf if one has probability 0."""
        if len(tokens) < self.n:
            raise CorpusError(f"{len(tokens)} tokens are too few to score with a {self.n}-gram model")
        alpha, norm = self.alpha, self.alpha * self.vocab_size
        counts, contexts = self.counts, self.context_counts
        total = 0.0
        for gram in zip(*(tokens[i:] for i in range(self.n))):
            numerator = counts.get(gram, 0) + alpha
            if numerator == 0:
                return math.inf
            total += math.log(numerator) - math.log(contexts.get(gram[:-1], 0) + norm)
        return math.exp(-total / (len(tokens) - self.n + 1))


def split_train_val(tokens: Sequence[int], train_fraction: float = TRAIN_FRACTION):
    """The first floor(fraction * N) tokens, and the rest."""
    cut = math.floor(train_fraction * len(tokens))
    return tokens[:cut], tokens[cut:]


@dataclass(frozen=True)
class NgramBaseline:
    n: int
    alpha: float
    val_perplexity: float
