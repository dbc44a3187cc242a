"""n-gram counts, Zipf fits and Laplace-smoothed models, against brute force and hand computation."""
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError, CorpusError
from engine.ngram import LaplaceNgramLM, ngram_counts, split_train_val, zipf_curve, zipf_exponent
from engine.ngram_counts import held_out_perplexity, ngram_baselines
from engine.tokenfile import load_corpus

token_lists = st.lists(st.integers(0, 4), min_size=1, max_size=60)


def brute_counts(tokens, n):
    counts = {}
    for i in range(len(tokens) - n + 1):
        gram = tuple(tokens[i:i + n])
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def brute_prob(train, context, token, n, alpha, vocab_size):
    """Laplace estimate straight from the definition, in exact arithmetic."""
    context = list(context)
    windows = [train[i:i + n] for i in range(len(train) - n + 1)]
    joint = sum(1 for w in windows if w[:-1] == context and w[-1] == token)
    ctx = sum(1 for w in windows if w[:-1] == context)
    return Fraction(joint) + Fraction(alpha), Fraction(ctx) + Fraction(alpha) * vocab_size


@settings(max_examples=100, deadline=None)
@given(token_lists, st.integers(1, 5))
def test_counts_agree_with_brute_force(tokens, n):
    assert dict(ngram_counts(tokens, n)) == brute_counts(tokens, n)


def test_n_below_one_is_refused():
    with pytest.raises(ConfigError):
        ngram_counts([1, 2], 0)


def test_hand_computed_probabilities():
    tokens = [1, 2, 1, 2, 1, 3]  # bigrams: 12 21 12 21 13; context 1 is followed 3 times
    model = LaplaceNgramLM.fit(tokens, 2, vocab_size=4, alpha=1.0)
    assert model.prob([1], 2) == pytest.approx(3 / 7)
    assert model.prob([1], 3) == pytest.approx(2 / 7)
    assert model.prob([3], 1) == pytest.approx(1 / 4)  # context 3 never precedes a token
    assert model.prob([2, 2, 1], 2) == pytest.approx(3 / 7)  # only the last n-1 tokens count
    unsmoothed = LaplaceNgramLM.fit(tokens, 2, vocab_size=4, alpha=0.0)
    assert unsmoothed.prob([1], 2) == pytest.approx(2 / 3)
    assert unsmoothed.prob([1], 0) == 0.0
    unigram = LaplaceNgramLM.fit(tokens, 1, vocab_size=4, alpha=0.5)
    assert unigram.prob([], 1) == pytest.approx(3.5 / 8)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=6, max_size=50), st.integers(1, 4),
       st.sampled_from([0.0, 0.01, 0.1, 1.0, 2.5]), st.data())
def test_probabilities_sum_to_one_and_match_the_definition(tokens, n, alpha, data):
    vocab_size = 7  # larger than the alphabet: some tokens are never seen
    model = LaplaceNgramLM.fit(tokens, n, vocab_size, alpha)
    seen = [list(g[:-1]) for g in ngram_counts(tokens, n)]
    contexts = seen + [data.draw(st.lists(st.integers(0, 6), min_size=n - 1, max_size=n - 1))]
    for context in contexts:
        probs = [model.prob(context, w) for w in range(vocab_size)]
        num_den = [brute_prob(tokens, context, w, n, alpha, vocab_size) for w in range(vocab_size)]
        if num_den[0][1] == 0:  # unsmoothed and an unseen context: no distribution
            assert probs == [0.0] * vocab_size
            continue
        assert math.fsum(probs) == pytest.approx(1.0)
        assert probs == pytest.approx([float(num / den) for num, den in num_den])


def test_context_length_is_checked():
    model = LaplaceNgramLM.fit([1, 2, 3, 4], 3, vocab_size=5)
    with pytest.raises(ConfigError, match="needs 2 context tokens, got 1"):
        model.prob([1], 2)


def test_negative_alpha_and_too_few_tokens_are_refused():
    with pytest.raises(ConfigError):
        LaplaceNgramLM.fit([1, 2, 3], 2, 4, alpha=-0.1)
    with pytest.raises(CorpusError):
        LaplaceNgramLM.fit([1, 2], 3, 4)


def brute_held_out_perplexity(tokens, n, alpha, vocab_size):
    cut = (9 * len(tokens)) // 10
    train, val = tokens[:cut], tokens[cut:]
    likelihood = Fraction(1)
    scored = 0
    for i in range(n - 1, len(val)):
        num, den = brute_prob(train, val[i - n + 1:i], val[i], n, alpha, vocab_size)
        likelihood *= num / den
        scored += 1
    return float(likelihood) ** (-1 / scored)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("alpha", [1.0, 0.1, 0.5])
def test_held_out_perplexity_equals_brute_force(n, alpha):
    tokens = [0, 1, 2, 1, 0, 1, 2, 2, 1, 0, 3, 1, 2, 0, 1, 1, 2, 1, 0, 2,
              1, 2, 0, 1, 3, 2, 1, 0, 1, 2, 2, 0, 1, 2, 1, 0, 1, 1, 2, 3]
    assert split_train_val(tokens) == (tokens[:36], tokens[36:])
    expected = brute_held_out_perplexity(tokens, n, alpha, vocab_size=5)
    assert held_out_perplexity(tokens, n, alpha, vocab_size=5) == pytest.approx(expected, rel=1e-12)


def test_unsmoothed_model_with_an_unseen_validation_ngram_has_infinite_perplexity():
    tokens = [1, 2] * 20 + [3, 3, 3, 3, 3]
    assert held_out_perplexity(tokens, 1, 0.0, vocab_size=4) == math.inf


def test_perplexity_needs_one_scorable_token():
    model = LaplaceNgramLM.fit([1, 2, 3, 4], 3, vocab_size=5)
    with pytest.raises(CorpusError):
        model.perplexity([1, 2])


def test_baselines_cover_every_n_and_alpha():
    tokens = [i % 7 for i in range(300)]
    baselines = ngram_baselines(tokens, vocab_size=8)
    assert [(b.n, b.alpha) for b in baselines] == [(n, a) for n in range(1, 6) for a in (1.0, 0.1, 0.01)]
    # the sequence is deterministic given one previous token: bigrams and up beat the unigram
    by_key = {(b.n, b.alpha): b.val_perplexity for b in baselines}
    assert by_key[(2, 0.01)] < 1.1 < by_key[(1, 0.01)]


def test_zipf_exponent_of_an_exact_power_law():
    freqs = [1e6 * r ** -1.3 for r in range(1, 5001)]
    assert zipf_exponent(freqs) == pytest.approx(1.3)
    assert zipf_exponent(freqs, window=(1, 50)) == pytest.approx(1.3)


def test_zipf_window_is_capped_at_what_exists():
    freqs = [1000 * r ** -2.0 for r in range(1, 31)]  # 30 ranks: the window is 10..30
    assert zipf_exponent(freqs) == pytest.approx(2.0)
    # only the window's ranks are fitted: a bent head changes nothing
    assert zipf_exponent([1e9, 1e8] + freqs[2:]) == pytest.approx(2.0)
    # fewer ranks than the window's start: all of them are used
    assert zipf_exponent([60 * r ** -1.5 for r in range(1, 7)]) == pytest.approx(1.5)
    assert math.isnan(zipf_exponent([5]))


def test_zipf_curve_is_log_spaced_and_keeps_the_ends():
    freqs = list(range(10_000, 0, -1))
    ranks, values = zipf_curve(freqs, points=50)
    assert ranks[0] == 1 and ranks[-1] == 10_000 and len(ranks) <= 50
    assert ranks == sorted(set(ranks))
    assert values == [freqs[r - 1] for r in ranks]
    assert zipf_curve([]) == ([], [])


def test_timemachine_char_baselines(timemachine):
    corpus, vocab = load_corpus("timemachine")
    best = min(ngram_baselines(corpus, len(vocab)), key=lambda b: b.val_perplexity)
    assert (best.n, best.alpha) == (5, 0.1)
    assert best.val_perplexity == pytest.approx(4.55, abs=0.01)
