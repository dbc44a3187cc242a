"""engine.unroll against the models' own (fused, hand-derived) forward and backward."""
import pytest
import torch
import torch.nn.functional as F

from engine.layers import detach_state
from engine.unroll import QUANTITIES, cell_of, first_layer_terms, input_vectors, unroll
from model_support import CASES, random_model

V, H, B, T = 9, 6, 3, 7

pytestmark = pytest.mark.usefixtures("one_thread")


def model_of(cell, layers, embed, seed=0):
    return random_model(cell, V, H, layers, embed, seed=seed)


def tokens(seed=0, batch=B, steps=T):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (batch, steps), generator=g), torch.randint(0, V, (batch, steps), generator=g)


def random_state(model, seed=5):
    g = torch.Generator().manual_seed(seed)
    state = model.begin_state(B)
    fill = lambda s: torch.randn(s.shape, generator=g) * 0.3  # noqa: E731
    return tuple(fill(s) for s in state) if isinstance(state, tuple) else fill(state)


@pytest.mark.parametrize("cell,layers,embed", CASES)
def test_logits_and_state_match_the_models_forward(cell, layers, embed):
    model = model_of(cell, layers, embed)
    X, _ = tokens()
    state = random_state(model)
    with torch.no_grad():
        logits, final = model(X, state)
        got = unroll(model, X, state)
    assert got.cell == cell_of(model) == cell
    torch.testing.assert_close(got.logits, logits, atol=1e-5, rtol=1e-5)
    for mine, theirs in zip(*(s if isinstance(s, tuple) else (s,) for s in (got.state, final))):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)
    # every quantity of every layer, one (batch, H) tensor per step
    assert set(got.acts) == {f"l{l + 1}.{q}" for l in range(layers) for q in QUANTITIES[cell]}
    assert all(len(v) == T and v[0].shape == (B, H) for v in got.acts.values())
    # the top layer's last h is the final state's top layer
    top_h = got.state[0] if cell == "lstm" else got.state
    torch.testing.assert_close(got.acts[f"l{layers}.h"][-1], top_h if layers == 1 else top_h[-1])


@pytest.mark.parametrize("cell,layers,embed", CASES)
def test_gradients_match_the_hand_derived_backward(cell, layers, embed):
    model = model_of(cell, layers, embed)
    X, Y = tokens(1)
    state = random_state(model)

    def grads(forward):
        model.zero_grad()
        F.cross_entropy(forward().reshape(-1, V), Y.reshape(-1)).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}

    fused = grads(lambda: model(X, state)[0])
    stepwise = grads(lambda: unroll(model, X, state).logits)
    for name in fused:
        torch.testing.assert_close(stepwise[name], fused[name], atol=1e-5, rtol=1e-4, msg=name)


def test_gate_values_are_the_books_equations_in_float64():
    """The LSTM's recorded gates, recomputed from the recorded previous states in float64."""
    model = model_of("lstm", 1, 0)
    X, _ = tokens(2)
    got = unroll(model, X)
    p = {n: t.double() for n, t in model.named_parameters()}
    x = F.one_hot(X, V).double()
    h, c = (torch.zeros(B, H, dtype=torch.float64),) * 2
    for t in range(T):
        gate = lambda g, act: act(x[:, t] @ p[f"W_x{g}"] + h @ p[f"W_h{g}"] + p[f"b_{g}"])  # noqa: E731
        i, f, o = (gate(g, torch.sigmoid) for g in "ifo")
        c_tilde = gate("c", torch.tanh)
        c = f * c + i * c_tilde
        h = o * torch.tanh(c)
        for name, value in {"i": i, "f": f, "o": o, "c_tilde": c_tilde, "c": c, "h": h}.items():
            torch.testing.assert_close(got.acts[f"l1.{name}"][t].double(), value, atol=1e-5, rtol=1e-5)


def test_given_inputs_take_the_place_of_the_tokens_and_carry_gradients():
    model = model_of("gru", 2, 0)
    X, _ = tokens(3)
    e = input_vectors(model, X).requires_grad_()
    got = unroll(model, X, inputs=e)
    torch.testing.assert_close(got.logits, unroll(model, X).logits)
    (grad,) = torch.autograd.grad(got.logits[:, -1].logsumexp(-1).sum(), e)
    assert grad.shape == (B, T, V) and grad.abs().sum() > 0
    # the last step's output cannot depend on a later input: there is none; the first input matters
    assert grad[:, 0].abs().sum() > 0


def test_the_state_carries_over_between_calls_as_in_one_call():
    model = model_of("lstm", 2, 4)
    X, _ = tokens(4, steps=10)
    whole = unroll(model, X)
    first = unroll(model, X[:, :4])
    second = unroll(model, X[:, 4:], detach_state(first.state))
    torch.testing.assert_close(torch.cat([first.logits, second.logits], 1), whole.logits)


def test_zero_steps_and_a_model_that_is_not_scratch():
    model = model_of("rnn", 1, 0)
    got = unroll(model, torch.zeros(2, 0, dtype=torch.long))
    assert got.logits.shape == (2, 0, V)
    with pytest.raises(TypeError, match="scratch models"):
        unroll(torch.nn.Linear(2, 2), torch.zeros(1, 1, dtype=torch.long))


@pytest.mark.parametrize("cell,layers,embed", CASES)
def test_given_input_terms_take_the_place_of_the_inputs(cell, layers, embed):
    """terms = X_t W_x + b by a gather (no one-hot matrix); the gradient by them, mapped back through
    W_x^T, is the gradient by the input vectors."""
    model = model_of(cell, layers, embed)
    X, _ = tokens(5)
    e = input_vectors(model, X).requires_grad_()
    terms = first_layer_terms(model, X).detach().requires_grad_()
    by_inputs, by_terms = unroll(model, X, inputs=e), unroll(model, X, terms=terms)
    assert by_terms.inputs is None
    torch.testing.assert_close(by_terms.logits, by_inputs.logits)
    (g_e,) = torch.autograd.grad(by_inputs.logits[:, -1, 0].sum(), e)
    (g_a,) = torch.autograd.grad(by_terms.logits[:, -1, 0].sum(), terms)
    W_x = torch.cat([getattr(model, n) for n, _ in model.named_parameters()
                     if n.startswith("W_x") and "_l" not in n], 1)
    torch.testing.assert_close(g_a @ W_x.t(), g_e, atol=1e-6, rtol=1e-5)


def test_without_outputs_there_are_no_logits_but_the_same_states():
    model = model_of("lstm", 2, 4)
    X, _ = tokens(6)
    full, bare = unroll(model, X), unroll(model, X, outputs=False)
    assert bare.logits is None
    for key in full.acts:
        torch.testing.assert_close(bare.stacked(key), full.stacked(key))
