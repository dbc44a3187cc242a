"""A corpus's statistics in one object: what ``rnnplay stats`` prints and the app shows."""
from __future__ import annotations

from dataclasses import dataclass

from .corpus import PREPARED_MAX_BYTES, CorpusText, Source
from .errors import ConfigError, CorpusError
from .ngram import (BASELINE_ALPHAS, BASELINE_NS, TRAIN_FRACTION, NgramBaseline, split_train_val, zipf_curve,
                    zipf_exponent)
from .ngram_counts import DistinctNgrams, as_tokens, count_pass, held_out_counts
from .tokenfile import Progress, ProgressFn, TokenFile, prepare
from .vocab import corpus_from_text

__all__ = ["CorpusStats", "NgramBaseline", "corpus_stats"]

TOP_NS = (1, 2, 3)
SEPARATORS = {"char": "", "word": " "}


@dataclass
class CorpusStats:
    name: str
    notice: str                      # e.g. why python-docs stands in for timemachine, or ""
    chars: int                       # characters in the source text, before preprocessing
    tokens: int
    vocab_size: int                  # including <unk>
    token: str                       # "char" or "word"
    top: dict[int, list[tuple[str, int]]]
    zipf: dict[int, float]
    zipf_curves: dict[int, tuple[list[int], list[int]]]
    ngram_baselines: list[NgramBaseline]
    best_baseline: NgramBaseline
    mode: str = "book"               # the preprocessing: book or raw (engine.corpus.preprocess)

    def to_json(self) -> dict:
        """The ``rnnplay stats --json`` object (print it with engine.escape.json_line, which writes
        a NaN, e.g. an exponent that cannot be fitted, as null)."""
        return {
            "corpus": self.name,
            "notice": self.notice,
            "token": self.token,
            "mode": self.mode,
            "chars": self.chars,
            "tokens": self.tokens,
            "vocab_size": self.vocab_size,
            "top": {str(n): [[gram, count] for gram, count in grams] for n, grams in self.top.items()},
            "zipf": {str(n): alpha for n, alpha in self.zipf.items()},
            "ngram_baselines": [{"n": b.n, "alpha": b.alpha, "val_perplexity": b.val_perplexity}
                                for b in self.ngram_baselines],
            "best_baseline": {"n": self.best_baseline.n, "alpha": self.best_baseline.alpha,
                              "val_perplexity": self.best_baseline.val_perplexity},
        }


def _min_tokens() -> int:
    """The shortest corpus whose validation part can be scored by every baseline."""
    n = max(BASELINE_NS)
    tokens = n
    while len(split_train_val(range(tokens))[1]) < n:
        tokens += 1
    return tokens


def corpus_stats(source: str | Source | TokenFile | None = None, *, token: str = "char", mode: str = "book",
                 top: int = 10, encoding: str | None = None, max_bytes: int = PREPARED_MAX_BYTES,
                 text: CorpusText | None = None, progress: ProgressFn | None = None) -> CorpusStats:
    """Statistics of ``text`` (held in memory), of a prepared token file (at its own token level
    and mode), or of ``source`` prepared now (None: the default corpus).  The n-grams are counted in one pass over the
    tokens (engine.ngram_counts); ``progress`` hears about the preparing and the counting."""
    if top < 1:
        raise ConfigError(f"the number of n-grams to list (--top) must be at least 1, not {top}")
    if text is not None:
        corpus, vocab = corpus_from_text(text.text, token=token, mode=mode)
        name, notice, chars = text.name, text.notice, len(text.text)
    else:
        prepared = source if isinstance(source, TokenFile) else prepare(
            source, token, mode, encoding=encoding, max_bytes=max_bytes, progress=progress)
        corpus, vocab, token, mode = prepared.tokens, prepared.vocab, prepared.token, prepared.mode
        name, notice, chars = prepared.name, prepared.notice, prepared.chars
    tokens = as_tokens(corpus)
    needed = _min_tokens()
    if len(tokens) < needed:
        raise CorpusError(f"{name} has {len(tokens)} {token} tokens; statistics need at least "
                          f"{needed}; use a longer text")
    distinct = {n: DistinctNgrams(n, len(vocab), len(tokens)) for n in TOP_NS}
    held_out = held_out_counts(tokens, len(vocab), BASELINE_NS, BASELINE_ALPHAS, TRAIN_FRACTION)
    report = progress or (lambda _: None)
    count_pass(tokens, [*distinct.values(), held_out],
               progress=lambda done, total: report(Progress("counting n-grams", done, total)))
    sep = SEPARATORS[token]
    tops, zipf, curves = {}, {}, {}
    for n, counter in distinct.items():
        tops[n] = [(sep.join(vocab.to_tokens(list(gram))), count) for gram, count in counter.top(top)]
        freqs = counter.frequencies()
        zipf[n] = zipf_exponent(freqs)
        curves[n] = zipf_curve(freqs)
    baselines = held_out.baselines(BASELINE_NS, BASELINE_ALPHAS)
    return CorpusStats(
        name=name, notice=notice, chars=chars, tokens=len(tokens),
        vocab_size=len(vocab), token=token, top=tops, zipf=zipf, zipf_curves=curves,
        ngram_baselines=baselines, best_baseline=min(baselines, key=lambda b: b.val_perplexity), mode=mode,
    )
