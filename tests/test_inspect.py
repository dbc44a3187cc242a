"""engine.inspect against the models' own forward: the next-token strip, the activations (the
models' own states step by step, the gates recomputed from the book's equations in float64),
chunking, eval mode, <unk>, bounds."""
import pytest
import torch

import engine.inspect
from engine.errors import ConfigError
from engine.inspect import (MAX_TOKENS, activations, check_unit, corpus_span, encode, next_token_probs,
                            read_text, shown_values)
from engine.layers import split_layers
from engine.tokenfile import prepare
from engine.vocab import Vocab
from model_support import CASES, random_model

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = 'the time traveller (for so it will be) said "hello".'
VOCAB = Vocab(list(TEXT))
H = 6


def model_of(cell, layers, embed, seed=0):
    return random_model(cell, len(VOCAB), H, layers, embed, seed=seed)


def indices(text=TEXT, vocab=VOCAB):
    return torch.tensor([vocab[list(text)]])


@pytest.mark.parametrize("chunk", [5, 512])
@pytest.mark.parametrize("cell,layers,embed", CASES)
def test_next_token_probs_are_the_models_softmax(cell, layers, embed, chunk, monkeypatch):
    monkeypatch.setattr(engine.inspect, "CHUNK_LOGITS", chunk * len(VOCAB))  # chunk borders carry the state
    model = model_of(cell, layers, embed)
    X = indices()
    with torch.no_grad():
        probs = torch.softmax(model(X, model.begin_state(1))[0][0], -1)
    probs_true, topk_p, topk_idx = next_token_probs(model, VOCAB, TEXT, k=4)
    T = X.shape[1]
    assert probs_true.shape == (T - 1,) and topk_p.shape == topk_idx.shape == (T, 4)
    torch.testing.assert_close(probs_true, probs[torch.arange(T - 1), X[0, 1:]], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(topk_p, probs.topk(4, -1).values, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(probs.gather(1, topk_idx), topk_p, atol=1e-5, rtol=1e-5)
    reading = read_text(model, VOCAB, TEXT)
    assert reading.loss == pytest.approx(float(-probs_true.log().mean()), rel=1e-5)
    assert reading.perplexity == pytest.approx(float(torch.exp(-probs_true.log().mean())), rel=1e-5)


def _book_gates(cell, p, suffix, x, h, c):
    """One step's gates from the book's equations, in float64, given the input and previous state."""
    def pre(g, hidden=h):
        return x @ p[f"W_x{g}{suffix}"] + hidden @ p[f"W_h{g}{suffix}"] + p[f"b_{g}{suffix}"]
    if cell == "gru":
        z, r = torch.sigmoid(pre("z")), torch.sigmoid(pre("r"))
        return {"z": z, "r": r, "h_tilde": torch.tanh(pre("h", r * h))}
    if cell == "lstm":
        return {"i": torch.sigmoid(pre("i")), "f": torch.sigmoid(pre("f")), "o": torch.sigmoid(pre("o")),
                "c_tilde": torch.tanh(pre("c"))}
    return {}


@pytest.mark.parametrize("cell,layers,embed", CASES)
def test_activations_are_the_models_own_states_and_the_books_gates(cell, layers, embed):
    """h (and the LSTM's c) after each step are the states the model's own forward returns when
    fed the text one token at a time; the gates are the book's equations at those states."""
    model = model_of(cell, layers, embed)
    X = indices()
    acts = activations(model, VOCAB, TEXT)
    p = {n: t.detach().double() for n, t in model.named_parameters()}
    state = model.begin_state(1)
    for t in range(X.shape[1]):
        previous = state
        with torch.no_grad():
            _, state = model(X[:, t:t + 1], state)
        hs = split_layers(state[0] if cell == "lstm" else state, layers)
        cs = split_layers(state[1], layers) if cell == "lstm" else [None] * layers
        h_prev = split_layers(previous[0] if cell == "lstm" else previous, layers)
        c_prev = split_layers(previous[1], layers) if cell == "lstm" else [None] * layers
        for layer in range(layers):
            key = f"l{layer + 1}."
            torch.testing.assert_close(acts[key + "h"][t], hs[layer][0], atol=1e-5, rtol=1e-5)
            if cell == "lstm":
                torch.testing.assert_close(acts[key + "c"][t], cs[layer][0], atol=1e-5, rtol=1e-5)
            if layer == 0:
                x = (p["W_e"][X[0, t]] if embed else torch.nn.functional.one_hot(X[0, t], len(VOCAB)).double())
            else:
                x = hs[layer - 1][0].double()
            suffix = "" if layer == 0 else f"_l{layer + 1}"
            c = c_prev[layer][0].double() if cell == "lstm" else None
            for name, value in _book_gates(cell, p, suffix, x, h_prev[layer][0].double(), c).items():
                torch.testing.assert_close(acts[key + name][t].double(), value, atol=1e-5, rtol=1e-5)


def test_a_model_in_training_mode_is_read_without_dropout_and_left_training():
    model = model_of("lstm", 2, 4)
    expected = read_text(model, VOCAB, TEXT)
    model.train()
    got = read_text(model, VOCAB, TEXT)
    assert model.training
    torch.testing.assert_close(got.log_probs_true, expected.log_probs_true)
    torch.testing.assert_close(got.acts["l2.h"], expected.acts["l2.h"])


def test_unknown_tokens_are_read_as_unk_and_shown_as_such():
    model = model_of("gru", 1, 0)
    reading = read_text(model, VOCAB, "the Zoo!")  # Z and ! are not in the vocabulary
    assert reading.tokens == ["t", "h", "e", " ", "<unk>", "o", "o", "<unk>"]
    assert reading.unknown == [4, 7]
    assert reading.indices[4] == reading.indices[7] == VOCAB.unk


def test_word_tokens():
    words = "the time traveller said the time machine is here".split()
    vocab = Vocab(words)
    model = random_model("lstm", len(vocab), H, 1, 3)
    text = "the time   traveller\nsaid the unknown machine"
    probs_true, _, topk_idx = next_token_probs(model, vocab, text, k=2)
    X = torch.tensor([vocab[text.split()]])
    with torch.no_grad():
        probs = torch.softmax(model(X, model.begin_state(1))[0][0], -1)
    torch.testing.assert_close(probs_true, probs[torch.arange(6), X[0, 1:]], atol=1e-5, rtol=1e-5)
    assert encode(vocab, text)[0] == ["the", "time", "traveller", "said", "the", "<unk>", "machine"]
    assert topk_idx.shape == (7, 2)


def test_bounds_are_one_line_errors():
    model = model_of("rnn", 1, 0)
    with pytest.raises(ConfigError, match="no tokens"):
        read_text(model, VOCAB, "")
    words = Vocab("the time machine".split())
    with pytest.raises(ConfigError, match="no tokens"):  # white space holds no word
        read_text(random_model("rnn", len(words), H), words, " \n ", k=1)
    with pytest.raises(ConfigError, match="at most 20,000"):
        read_text(model, VOCAB, "a" * (MAX_TOKENS + 1))
    for k in (0, len(VOCAB) + 1, True, 2.0):
        with pytest.raises(ConfigError, match="vocabulary size"):
            read_text(model, VOCAB, TEXT, k=k)
    acts = activations(model, VOCAB, "the")
    with pytest.raises(ConfigError, match="no quantity 'l1.f'"):
        check_unit(acts, "l1.f", 0)
    with pytest.raises(ConfigError, match="units 0 to 5"):
        check_unit(acts, "l1.h", H)
    with pytest.raises(ConfigError, match="units 0 to 5"):
        check_unit(acts, "l1.h", -1)


def test_shown_values_put_the_memory_cell_through_tanh():
    model = model_of("lstm", 1, 0)
    acts = activations(model, VOCAB, TEXT)
    values, lo, hi = shown_values(acts, "l1.c", 2)
    torch.testing.assert_close(values, torch.tanh(acts["l1.c"][:, 2]))
    assert (lo, hi) == (-1.0, 1.0)
    values, lo, hi = shown_values(acts, "l1.f", 2)
    torch.testing.assert_close(values, acts["l1.f"][:, 2])
    assert (lo, hi) == (0.0, 1.0)


@pytest.mark.parametrize("mode,chars", [("book", "time machine"), ("raw", "Time Machine")])
def test_corpus_span_is_the_text_as_trained_on(tmp_path, mode, chars):
    path = tmp_path / "book.txt"
    path.write_text("The Time Machine, by H. G. Wells\n\nI\n\nThe Time Traveller", encoding="utf-8")
    assert corpus_span(prepare(str(path), "char", mode), 4, 12) == chars  # the run's mode preprocesses
    words = prepare(str(path), "word", mode)
    assert corpus_span(words, 1, 3) == ("time machine by" if mode == "book" else "Time Machine, by")
    with pytest.raises(ConfigError, match="span start 99"):
        corpus_span(words, 99, 5)
    with pytest.raises(ConfigError, match="span length 0"):
        corpus_span(words, 0, 0)
