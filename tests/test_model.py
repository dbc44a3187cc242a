"""The scratch RNN against torch.nn.RNN, the book's formulas, and its own one-token stepper."""
import pytest
import torch
import torch.nn.functional as F

from engine import ConfigError, RNNConcise, RNNScratch
from engine.device import resolve_device
from engine.model import PARAM_NAMES

V, H, B, T = 7, 5, 3, 4


def _scratch(scale=0.5, seed=0):
    model = RNNScratch(V, H, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # larger weights than the book's 0.01 so the test sees real dynamics
        g = torch.Generator().manual_seed(seed + 1)
        for p in model.params:
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model


def _concise_copy(model):
    twin = RNNConcise(V, H)
    with torch.no_grad():
        twin.rnn.weight_ih_l0.copy_(model.W_xh.T)
        twin.rnn.weight_hh_l0.copy_(model.W_hh.T)
        twin.rnn.bias_ih_l0.copy_(model.b_h)
        twin.rnn.bias_hh_l0.zero_()
        twin.linear.weight.copy_(model.W_hq.T)
        twin.linear.bias.copy_(model.b_q)
    return twin


def test_parameters_are_named_ordered_and_initialised_as_the_book():
    model = RNNScratch(28, 512, generator=torch.Generator().manual_seed(0))
    assert [name for name, _ in model.named_parameters()] == list(PARAM_NAMES)
    assert [p.shape for p in model.params] == [(28, 512), (512, 512), (512,), (512, 28), (28,)]
    assert all(p is q for p, q in zip(model.params, model.parameters()))
    assert torch.all(model.b_h == 0) and torch.all(model.b_q == 0)
    assert model.W_hh.std().item() == pytest.approx(0.01, rel=0.02)
    assert model.W_hh.mean().abs().item() < 1e-3


def test_initialisation_uses_only_the_given_generator():
    torch.manual_seed(1)
    a = RNNScratch(V, H, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(2)
    b = RNNScratch(V, H, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a.params, b.params))


def test_forward_follows_the_books_equations(kernels_backend):
    model = _scratch()
    X = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(5))
    h0 = torch.randn(B, H, generator=torch.Generator().manual_seed(6))
    logits, state = model(X, h0)
    h, outputs = h0, []
    for t in range(T):  # one-hot inputs, per-step products, as d2l 8.5 writes them
        x = F.one_hot(X[:, t], V).float()
        h = torch.tanh(x @ model.W_xh + h @ model.W_hh + model.b_h)
        outputs.append(h @ model.W_hq + model.b_q)
    assert logits.shape == (B, T, V)
    torch.testing.assert_close(logits, torch.stack(outputs, 1), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(state, h, atol=1e-6, rtol=1e-5)


def test_same_logits_and_gradients_as_torch_nn_rnn(kernels_backend):
    model = _scratch()
    twin = _concise_copy(model)
    X = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(7))
    Y = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(8))
    h0 = torch.randn(B, H, generator=torch.Generator().manual_seed(9)) * 0.3
    outs = []
    for net in (model, twin):
        logits, state = net(X, h0)
        F.cross_entropy(logits.reshape(-1, V), Y.reshape(-1)).backward()
        outs.append((logits, state))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outs[0][1], outs[1][1], atol=1e-5, rtol=1e-5)
    pairs = [(model.W_xh.grad, twin.rnn.weight_ih_l0.grad.T), (model.W_hh.grad, twin.rnn.weight_hh_l0.grad.T),
             (model.b_h.grad, twin.rnn.bias_ih_l0.grad), (model.b_h.grad, twin.rnn.bias_hh_l0.grad),
             (model.W_hq.grad, twin.linear.weight.grad.T), (model.b_q.grad, twin.linear.bias.grad)]
    for ours, theirs in pairs:
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_concise_twin_has_the_same_interface_and_initialisation():
    twin = RNNConcise(V, H, generator=torch.Generator().manual_seed(0))
    assert twin.begin_state(B).shape == (B, H)
    logits, state = twin(torch.zeros(B, T, dtype=torch.long), twin.begin_state(B))
    assert logits.shape == (B, T, V) and state.shape == (B, H)
    assert torch.all(twin.rnn.bias_hh_l0 == 0) and twin.rnn.weight_hh_l0.abs().max() < 0.1


@pytest.mark.parametrize("cls", [RNNScratch, RNNConcise])
def test_stepper_matches_forward(cls):
    model = cls(V, H, generator=torch.Generator().manual_seed(0))
    if cls is RNNScratch:
        model = _scratch()
    X = torch.tensor([[3, 1, 4, 1, 5]])
    logits, state = model(X, model.begin_state(1))
    step, h = model.stepper(), model.begin_state(1)
    with torch.no_grad():
        for t, index in enumerate(X[0].tolist()):
            out, h = step(index, h)
            torch.testing.assert_close(out[0], logits[0, t], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h, state, atol=1e-6, rtol=1e-5)


def test_state_and_weights_follow_the_device():
    model = RNNScratch(V, H, device="cpu")
    assert model.begin_state(2).device.type == "cpu" and model.W_hh.device.type == "cpu"


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no usable CUDA"):
            resolve_device("cuda")
