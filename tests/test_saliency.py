"""Saliency's hand-derived backward against autograd on the readable forward (engine.unroll with
the input vectors as leaves) and against finite differences in float64."""
import pytest
import torch

from engine.errors import ConfigError
from engine.inspect import read_text
from engine.saliency import input_gradient_norms, saliency, saliency_of
from engine.unroll import input_vectors, unroll
from engine.vocab import Vocab
from model_support import CASES, random_model

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = "the time traveller said so"
VOCAB = Vocab(list(TEXT))


def autograd_saliency(model, X, t):
    """||∂ log p(x_{t+1}) / ∂e_s|| by autograd through the step-by-step forward."""
    e = input_vectors(model, X[:, :t + 1]).detach().requires_grad_()
    logits = unroll(model, X[:, :t + 1], inputs=e).logits
    (grad,) = torch.autograd.grad(torch.log_softmax(logits[0, t], -1)[X[0, t + 1]], e)
    return grad[0].norm(dim=1)


@pytest.mark.parametrize("cell,layers,embed", CASES)
def test_saliency_is_autograds_gradient_norm(cell, layers, embed):
    model = random_model(cell, len(VOCAB), 7, layers, embed)
    X = torch.tensor([VOCAB[list(TEXT)]])
    reading = read_text(model, VOCAB, TEXT)
    for t in (0, 5, len(TEXT) - 2):
        got = saliency_of(model, reading, t)
        assert got.shape == (t + 1,)
        torch.testing.assert_close(got, autograd_saliency(model, X, t), atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(saliency(model, VOCAB, TEXT, 9), saliency_of(model, reading, 9))


@pytest.mark.parametrize("cell,layers,embed", [("rnn", 1, 0), ("gru", 2, 3), ("lstm", 2, 0), ("lstm", 1, 3)])
def test_saliency_matches_finite_differences(cell, layers, embed):
    text = "the tide"
    vocab = Vocab(list(text))
    model = random_model(cell, len(vocab), 4, layers, embed, seed=3).double()
    X = torch.tensor([vocab[list(text)]])
    t = 5
    e = input_vectors(model, X[:, :t + 1]).detach()

    def log_p(inputs):
        with torch.no_grad():
            logits = unroll(model, X[:, :t + 1], inputs=inputs).logits
        return float(torch.log_softmax(logits[0, t], -1)[X[0, t + 1]])

    eps = 1e-6
    numeric = torch.zeros(e.shape[1], e.shape[2], dtype=torch.float64)
    for s in range(e.shape[1]):
        for d in range(e.shape[2]):
            up, down = e.clone(), e.clone()
            up[0, s, d] += eps
            down[0, s, d] -= eps
            numeric[s, d] = (log_p(up) - log_p(down)) / (2 * eps)
    got = saliency(model, vocab, text, t)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, numeric.norm(dim=1), atol=1e-7, rtol=1e-6)


def test_later_inputs_cannot_matter_and_the_last_one_does():
    model = random_model("lstm", len(VOCAB), 7, 1, 0)
    got = saliency(model, VOCAB, TEXT, 10)
    assert got.shape == (11,) and got[-1] > 0


def test_the_gram_path_and_the_direct_path_agree():
    g = torch.Generator().manual_seed(0)
    grad = torch.randn(9, 12, generator=g)
    W_x = torch.randn(300, 12, generator=g)  # a 300-token one-hot vocabulary
    expected = (grad.double() @ W_x.double().t()).norm(dim=1).float()
    for gram in (True, False, None):
        torch.testing.assert_close(input_gradient_norms(grad, W_x, gram=gram), expected, rtol=1e-5, atol=1e-6)


def test_positions_without_a_next_token_are_refused():
    model = random_model("rnn", len(VOCAB), 5)
    for t in (-1, len(TEXT) - 1, len(TEXT), True, 1.5):
        with pytest.raises(ConfigError, match="position"):
            saliency(model, VOCAB, TEXT, t)
    with pytest.raises(ConfigError, match="at least two tokens"):
        saliency(model, VOCAB, "t", 0)


def test_a_model_in_training_mode_gives_the_same_saliency_and_stays_training():
    model = random_model("gru", len(VOCAB), 7, 2, 3)  # dropout 0.3 between the layers
    expected = saliency(model, VOCAB, TEXT, 12)
    model.train()
    torch.testing.assert_close(saliency(model, VOCAB, TEXT, 12), expected)
    assert model.training
