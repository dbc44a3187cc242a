"""Beam search: width 1 is greedy, a wider beam never ends below greedy, the scores are the model's
own log-probabilities (teacher forcing), exhaustive search on a tiny vocabulary, the bounds."""
import itertools

import pytest
import torch

from engine.beam import MAX_BEAM, beam_search, sequence_log_prob
from engine.errors import ConfigError
from engine.generate import generate
from engine.layers import forward_stepper
from engine.vocab import Vocab
from model_support import CASES, random_model

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = "the time traveller said so and the time machine went"
CHARS = Vocab(list(TEXT))
WORDS = Vocab(TEXT.split())


def greedy(model, vocab, prefix, n):
    return "".join(generate(model, vocab, prefix, n))


@pytest.mark.parametrize("cell,layers,embed", CASES)
def test_width_one_is_greedy(cell, layers, embed):
    model = random_model(cell, len(CHARS), 12, layers, embed)
    for prefix in ("the ", "", "time traveller"):
        (only,) = beam_search(model, CHARS, prefix, 25, 1)
        assert only.text == greedy(model, CHARS, prefix, 25)
        assert "".join(generate(model, CHARS, prefix, 25, beam=1)) == only.text


def test_width_one_is_greedy_with_words():
    model = random_model("gru", len(WORDS), 12, 1, 0)
    (only,) = beam_search(model, WORDS, "the time", 8, 1)
    assert only.text == greedy(model, WORDS, "the time", 8)
    assert only.text.startswith(" ") and len(only.tokens) == 8


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_a_wider_beam_never_ends_below_greedy_and_scores_are_the_models(cell, seed):
    model = random_model(cell, len(CHARS), 10, 1, 0, seed=seed, scale=0.9)
    baseline = sequence_log_prob(model, CHARS, "the", greedy(model, CHARS, "the", 20))
    for width in (2, 3, 8):
        found = beam_search(model, CHARS, "the", 20, width)
        assert len(found) == width
        assert len({c.tokens for c in found}) == width
        assert [c.log_prob for c in found] == sorted((c.log_prob for c in found), reverse=True)
        assert found[0].log_prob >= baseline - 1e-4
        for candidate in found:  # the search's running sums against one teacher-forced pass
            assert candidate.log_prob == pytest.approx(
                sequence_log_prob(model, CHARS, "the", candidate.text), abs=1e-4)
            assert "<unk>" not in candidate.tokens


def test_a_beam_as_wide_as_every_sequence_is_exhaustive_search():
    text = "ab ba"
    vocab = Vocab(list(text))  # <unk>, a, b, space: 3 writable tokens, 27 sequences of 3
    model = random_model("lstm", len(vocab), 6, 1, 0, seed=4, scale=1.5)
    found = beam_search(model, vocab, "a", 3, 27)
    every = {"".join(seq): sequence_log_prob(model, vocab, "a", "".join(seq))
             for seq in itertools.product("ab ", repeat=3)}
    assert {c.text for c in found} == set(every)
    for candidate in found:
        assert candidate.log_prob == pytest.approx(every[candidate.text], abs=1e-5)
    assert found[0].text == max(every, key=every.get)


class TableModel(torch.nn.Module):
    """A made-up language model over <unk>, a, b, c, d, and x0..x9 where a plain beam of two
    loses to greedy: 'a' (0.51) then three near-equal tokens (≈0.34 each) then a certain one;
    'b' (0.49) then two equal tokens (0.5 each), then ten equally likely ones.  After two steps the
    plain beam keeps b·c and b·d (0.245 each) over a·c (0.17), and ends at 0.0245; greedy's a·c·c
    keeps 0.17."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab, self.num_layers = vocab, 1
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def begin_state(self, batch_size):
        return torch.zeros(batch_size, 3)  # tokens read so far, the first two written tokens

    def _logits(self, state):
        v = self.vocab
        probs = torch.full((len(v),), 1e-9)
        read, first = int(state[0]), v.to_tokens(int(state[1]))
        if read == 1:
            probs[v["a"]], probs[v["b"]] = 0.51, 0.49
        elif read == 2 and first == "a":
            probs[v["c"]], probs[v["d"]], probs[v["x0"]] = 0.34, 0.33, 0.33
        elif read == 2:
            probs[v["c"]], probs[v["d"]] = 0.5, 0.5
        elif first == "a":
            probs[v["c"]] = 1.0
        else:
            probs[[v[f"x{i}"] for i in range(10)]] = 0.1
        return probs.log()

    def forward(self, X, state):
        state, out = state.clone(), []
        for t in range(X.shape[1]):
            for row in range(X.shape[0]):
                state[row, 0] += 1
                if 2 <= state[row, 0] <= 3:
                    state[row, int(state[row, 0]) - 1] = X[row, t]
            out.append(torch.stack([self._logits(s) for s in state]))
        return torch.stack(out, 1), state

    def stepper(self, logit_bias):
        return forward_stepper(self, logit_bias)


def test_the_greedy_continuation_is_kept_where_a_plain_beam_would_lose_it():
    vocab = Vocab(["a", "b", "c", "d"] + [f"x{i}" for i in range(10)])
    model = TableModel(vocab)
    greedy_text = greedy(model, vocab, "d", 3)
    assert greedy_text == " a c c"
    found = beam_search(model, vocab, "d", 3, 2)
    assert found[0].text == greedy_text
    assert found[0].log_prob == pytest.approx(sequence_log_prob(model, vocab, "d", greedy_text), abs=1e-6)
    assert found[0].log_prob > found[1].log_prob > float(torch.tensor(0.0245).log()) - 1e-3


def test_zero_tokens_and_the_bounds():
    model = random_model("rnn", len(CHARS), 6)
    assert [c.text for c in beam_search(model, CHARS, "the", 0, 4)] == [""]
    for width in (0, MAX_BEAM + 1, True, 2.5):
        with pytest.raises(ConfigError, match="beam width"):
            beam_search(model, CHARS, "the", 5, width)
        with pytest.raises(ConfigError, match="beam width"):
            generate(model, CHARS, "the", 5, beam=width)
    with pytest.raises(ConfigError, match="deterministic"):
        generate(model, CHARS, "the", 5, beam=2, temperature=0.8)
    with pytest.raises(ConfigError, match="number of tokens"):
        beam_search(model, CHARS, "the", -1, 2)
    assert sequence_log_prob(model, CHARS, "the", "") == 0.0


def test_generate_with_a_beam_yields_the_best_candidates_tokens():
    model = random_model("lstm", len(WORDS), 10, 1, 3)
    pieces = list(generate(model, WORDS, "the", 6, beam=4))
    best = beam_search(model, WORDS, "the", 6, 4)[0]
    assert len(pieces) == 6 and "".join(pieces) == best.text
    assert [p.strip() for p in pieces] == list(best.tokens)


def test_a_model_in_training_mode_is_searched_without_dropout_and_left_training():
    model = random_model("lstm", len(CHARS), 10, 2, 3)  # dropout 0.3 between the layers
    expected = beam_search(model, CHARS, "the", 15, 4)
    score = sequence_log_prob(model, CHARS, "the", expected[0].text)
    model.train()
    assert beam_search(model, CHARS, "the", 15, 4) == expected
    assert sequence_log_prob(model, CHARS, "the", expected[0].text) == score
    assert model.training
