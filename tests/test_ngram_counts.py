"""Streamed n-gram counting (engine.ngram_counts) against the book's Counter-based models: the
same counts, tops and held-out perplexities wherever the chunks are cut, in table and sorted
modes, on random texts and on The Time Machine."""
import collections
import math
from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.ngram_counts as ngram_counts_mod
from engine.errors import ConfigError, CorpusError
from engine.ngram import BASELINE_NS, LaplaceNgramLM, ngram_counts, split_train_val
from engine.ngram_counts import DistinctNgrams, count_pass, held_out_counts, held_out_perplexity, ngram_baselines
from engine.tokenfile import load_corpus

ALPHAS = (1.0, 0.1, 0.01, 0.0)


def skewed_texts():
    """Token lists over small vocabularies, skewed so that n-grams repeat and some never do."""
    return st.integers(2, 30).flatmap(lambda v: st.tuples(
        st.just(v), st.lists(st.integers(0, v - 1).map(lambda t, v=v: t % max(1, v // 3) if t % 2 else t),
                             min_size=50, max_size=600)))


def book_perplexities(tokens, vocab_size):
    train, val = split_train_val(tokens)
    out = []
    for n in BASELINE_NS:
        model = LaplaceNgramLM.fit(train, n, vocab_size)
        out += [replace(model, alpha=alpha).perplexity(val) for alpha in ALPHAS]
    return out


# table mode (every code counted in a dense table) and sorted mode (unique / binary search)
MODES = [{"chunk": 1 << 21, "dense": 1 << 22}, {"chunk": 7, "dense": 1 << 22}, {"chunk": 5, "dense": 3},
         {"chunk": 64, "dense": 40}]


@settings(max_examples=60, deadline=None)
@given(skewed_texts(), st.sampled_from(MODES))
def test_held_out_perplexities_equal_the_books_models(text, mode):
    vocab_size, tokens = text
    ngram_counts_mod.DENSE_LIMIT = mode["dense"]
    try:
        held_out = held_out_counts(torch.tensor(tokens), vocab_size, BASELINE_NS, ALPHAS, 0.9)
        count_pass(torch.tensor(tokens, dtype=torch.uint8), [held_out], chunk=mode["chunk"])  # past the train part too
        got = [held_out.perplexity(n, alpha) for n in BASELINE_NS for alpha in ALPHAS]
    finally:
        ngram_counts_mod.DENSE_LIMIT = 1 << 22
    for expected, value in zip(book_perplexities(tokens, vocab_size), got):
        assert value == expected or value == pytest.approx(expected, rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(skewed_texts(), st.integers(1, 3), st.sampled_from(MODES))
def test_distinct_ngrams_equal_a_counter(text, n, mode):
    vocab_size, tokens = text
    ngram_counts_mod.DENSE_LIMIT = mode["dense"]
    try:
        distinct = DistinctNgrams(n, vocab_size, len(tokens))
        count_pass(torch.tensor(tokens), [distinct], chunk=mode["chunk"])
    finally:
        ngram_counts_mod.DENSE_LIMIT = 1 << 22
    counter = ngram_counts(tokens, n)
    assert distinct.top(12) == counter.most_common(12)  # ties in first-occurrence order, as Counter keeps them
    assert distinct.frequencies().tolist() == sorted(counter.values(), reverse=True)


def test_top_ngrams_by_count_ties_in_first_occurrence_order():
    def top(tokens, n, k):
        distinct = DistinctNgrams(n, 10, len(tokens))
        count_pass(torch.tensor(tokens), [distinct])
        return distinct.top(k)

    assert top([3, 1, 2, 1, 2, 3, 1], 1, 2) == [((1,), 3), ((3,), 2)]
    assert top([5, 6, 7, 5, 6, 7, 8], 2, 3) == [((5, 6), 2), ((6, 7), 2), ((7, 5), 1)]


def test_one_pass_feeds_every_counter():
    tokens = torch.tensor([i * 7 % 11 for i in range(500)])
    counters = [DistinctNgrams(n, 11, len(tokens)) for n in (1, 2, 3)]
    calls = []
    count_pass(tokens, counters, chunk=64, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(min(s + 64, 500), 500) for s in range(0, 500, 64)]
    for n, counter in enumerate(counters, start=1):
        assert sum(counter.frequencies().tolist()) == 500 - n + 1


def test_word_vocabularies_are_counted_without_overflow():
    # 30,000 words: trigram codes need 45 bits, 5-gram codes would overflow int64 as base-V numbers
    tokens = [(i * 7919) % 30_000 for i in range(4_000)] * 2
    distinct = DistinctNgrams(3, 30_000, len(tokens))
    count_pass(torch.tensor(tokens), [distinct])
    assert distinct.top(1)[0][1] == 2
    expected = book_perplexities(tokens, 30_000)
    got = [b.val_perplexity for b in ngram_baselines(tokens, 30_000, alphas=ALPHAS)]
    assert got == pytest.approx(expected, rel=1e-10)


def test_too_large_a_vocabulary_for_codes_is_refused():
    with pytest.raises(CorpusError, match="too large to count 3-grams"):
        DistinctNgrams(3, 3_000_000, 10)


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ConfigError, match="alpha must be >= 0"):
        ngram_baselines(list(range(50)), 50, alphas=(-0.5,))
    with pytest.raises(ConfigError, match="n >= 1"):
        DistinctNgrams(0, 5, 10)
    with pytest.raises(CorpusError, match="too few to score with a 5-gram model"):
        ngram_baselines([1, 2] * 20, 3)


def test_held_out_perplexity_of_an_unseen_validation_token_without_smoothing_is_infinite():
    assert held_out_perplexity([1, 2] * 20 + [3] * 5, 1, 0.0, vocab_size=4) == math.inf


def test_timemachine_figures_stay_those_of_the_book_models(timemachine):
    corpus, vocab = load_corpus("timemachine")  # a memory-mapped uint8 token file
    assert corpus.dtype == torch.uint8
    streamed = {(b.n, b.alpha): b.val_perplexity for b in ngram_baselines(corpus, len(vocab))}
    as_list = corpus.tolist()
    train, val = split_train_val(as_list)
    for n in BASELINE_NS:
        model = LaplaceNgramLM.fit(train, n, len(vocab))
        for alpha in (1.0, 0.1, 0.01):
            assert streamed[(n, alpha)] == pytest.approx(replace(model, alpha=alpha).perplexity(val), rel=1e-12)
    assert round(streamed[(5, 0.1)], 3) == 4.552  # README's table
    counter = collections.Counter(zip(as_list, as_list[1:], as_list[2:]))
    distinct = DistinctNgrams(3, len(vocab), len(corpus))
    count_pass(corpus, [distinct])
    assert distinct.top(10) == counter.most_common(10)
