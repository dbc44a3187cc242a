"""A corpus's statistics in one object: what ``rnnplay stats`` prints and the app shows."""
from __future__ import annotations

from dataclasses import dataclass

from .corpus import DEFAULT_MAX_BYTES, CorpusText, default_source, read_source
from .errors import ConfigError, CorpusError
from .ngram import (BASELINE_NS, NgramBaseline, ngram_baselines, ngram_counts, split_train_val,
                    top_ngrams, zipf_curve, zipf_exponent)
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


def corpus_stats(source: str | None = None, *, token: str = "char", mode: str = "book", top: int = 10,
                 encoding: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 text: CorpusText | None = None) -> CorpusStats:
    """Statistics of ``text``, or of ``source`` read from disk (None: the default corpus)."""
    if top < 1:
        raise ConfigError(f"the number of n-grams to list (--top) must be at least 1, not {top}")
    if text is None:
        text = default_source() if source is None else read_source(
            source, encoding=encoding, max_bytes=max_bytes)
    corpus, vocab = corpus_from_text(text.text, token=token, mode=mode)
    needed = _min_tokens()
    if len(corpus) < needed:
        raise CorpusError(f"{text.name} has {len(corpus)} {token} tokens; statistics need at least "
                          f"{needed}; use a longer text")
    sep = SEPARATORS[token]
    tops, zipf, curves = {}, {}, {}
    for n in TOP_NS:
        counts = ngram_counts(corpus, n)
        tops[n] = [(sep.join(vocab.to_tokens(list(gram))), count) for gram, count in top_ngrams(counts, top)]
        freqs = sorted(counts.values(), reverse=True)
        zipf[n] = zipf_exponent(freqs)
        curves[n] = zipf_curve(freqs)
    baselines = ngram_baselines(corpus, len(vocab))
    return CorpusStats(
        name=text.name, notice=text.notice, chars=len(text.text), tokens=len(corpus),
        vocab_size=len(vocab), token=token, top=tops, zipf=zipf, zipf_curves=curves,
        ngram_baselines=baselines, best_baseline=min(baselines, key=lambda b: b.val_perplexity), mode=mode,
    )
