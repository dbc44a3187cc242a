"""GRUScratch and LSTMScratch against torch.nn.LSTM, an independent float64 version of the book's
equations, and their own plain-autograd loop; deep stacking, dropout, state, stepper."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.gated import GRUScratch, LSTMScratch
from engine.layers import detach_state

V, H, B, T = 7, 5, 3, 6


pytestmark = pytest.mark.usefixtures("one_thread")


def randomised(model, seed=0, scale=0.5):
    """Weights larger than the book's 0.01 so that the gates really open and close."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return model


def data(seed=0, batch=B, steps=T):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (batch, steps), generator=g), torch.randint(0, V, (batch, steps), generator=g)


def random_state(model, batch=B, seed=3):
    g = torch.Generator().manual_seed(seed)
    state = model.begin_state(batch)
    fill = lambda s: torch.randn(s.shape, generator=g, dtype=s.dtype) * 0.3  # noqa: E731
    return tuple(fill(s) for s in state) if isinstance(state, tuple) else fill(state)


def loss_and_grads(model, X, Y, state):
    model.zero_grad()
    logits, new_state = model(X, state)
    F.cross_entropy(logits.reshape(-1, V), Y.reshape(-1)).backward()
    return logits.detach(), new_state, {n: p.grad.clone() for n, p in model.named_parameters()}


# ------------------------------------------------------------- the book's equations, float64 ----

def book_gru_step(x, h, p, s=""):
    Z = torch.sigmoid(x @ p["W_xz" + s] + h @ p["W_hz" + s] + p["b_z" + s])
    R = torch.sigmoid(x @ p["W_xr" + s] + h @ p["W_hr" + s] + p["b_r" + s])
    H_tilde = torch.tanh(x @ p["W_xh" + s] + (R * h) @ p["W_hh" + s] + p["b_h" + s])
    return Z * h + (1 - Z) * H_tilde


def book_lstm_step(x, state, p, s=""):
    h, c = state
    I = torch.sigmoid(x @ p["W_xi" + s] + h @ p["W_hi" + s] + p["b_i" + s])
    F_ = torch.sigmoid(x @ p["W_xf" + s] + h @ p["W_hf" + s] + p["b_f" + s])
    O = torch.sigmoid(x @ p["W_xo" + s] + h @ p["W_ho" + s] + p["b_o" + s])
    C_tilde = torch.tanh(x @ p["W_xc" + s] + h @ p["W_hc" + s] + p["b_c" + s])
    c = F_ * c + I * C_tilde
    return O * torch.tanh(c), c


def book_logits(cell, p, X, states, layers):
    """One-hot inputs, one step at a time, layer after layer, as d2l 10.1-10.3 write it."""
    step = book_gru_step if cell == "gru" else book_lstm_step
    outputs = []
    for t in range(X.shape[1]):
        x = F.one_hot(X[:, t], V).double()
        for layer in range(layers):
            states[layer] = step(x, states[layer], p, "" if layer == 0 else f"_l{layer + 1}")
            x = states[layer] if cell == "gru" else states[layer][0]
        outputs.append(x @ p["W_hq"] + p["b_q"])
    return torch.stack(outputs, 1)


@pytest.mark.parametrize("cell,cls", [("gru", GRUScratch), ("lstm", LSTMScratch)])
@pytest.mark.parametrize("layers", [1, 2])
def test_logits_and_gradients_follow_the_books_equations_in_float64(cell, cls, layers, kernels_backend):
    model = randomised(cls(V, H, num_layers=layers))
    X, Y = data()
    state = random_state(model)
    logits, _, grads = loss_and_grads(model, X, Y, state)

    p = {n: q.detach().double().requires_grad_() for n, q in model.named_parameters()}
    per_layer = (lambda s: [s] if layers == 1 else list(s.unbind(0)))  # noqa: E731
    if cell == "gru":
        states = [s.double() for s in per_layer(state)]
    else:
        states = [(h.double(), c.double()) for h, c in zip(per_layer(state[0]), per_layer(state[1]))]
    reference = book_logits(cell, p, X, states, layers)
    F.cross_entropy(reference.reshape(-1, V), Y.reshape(-1)).backward()
    torch.testing.assert_close(logits.double(), reference.detach(), atol=1e-5, rtol=1e-5)
    for name, grad in grads.items():
        torch.testing.assert_close(grad.double(), p[name].grad, atol=1e-5, rtol=1e-5, msg=name)


def test_parameters_carry_the_books_names_and_shapes():
    gru = GRUScratch(28, 16)
    assert [n for n, _ in gru.named_parameters()] == ["W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r",
                                                      "W_xh", "W_hh", "b_h", "W_hq", "b_q"]
    assert gru.W_xz.shape == (28, 16) and gru.W_hh.shape == (16, 16) and gru.b_r.shape == (16,)
    lstm = LSTMScratch(28, 16, num_layers=2)
    names = [n for n, _ in lstm.named_parameters()]
    assert names[:12] == ["W_xi", "W_hi", "b_i", "W_xf", "W_hf", "b_f", "W_xo", "W_ho", "b_o",
                          "W_xc", "W_hc", "b_c"]
    assert names[12:15] == ["W_xi_l2", "W_hi_l2", "b_i_l2"] and names[-2:] == ["W_hq", "b_q"]
    assert lstm.W_xi.shape == (28, 16) and lstm.W_xi_l2.shape == (16, 16)
    assert lstm.W_hq.shape == (16, 28) and torch.all(lstm.b_f == 0)
    # torch.nn.LSTM's initialisation: U(-1/sqrt(H), 1/sqrt(H)), standard deviation 1/sqrt(3H)
    big = LSTMScratch(28, 256)
    assert big.W_hc.abs().max().item() <= 256 ** -0.5
    assert big.W_hc.std().item() == pytest.approx((3 * 256) ** -0.5, rel=0.02)


def test_an_embedding_feeds_the_first_layer_with_dropout_in_training():
    lstm = LSTMScratch(28, 16, num_layers=2, embed_size=8, dropout=0.5)
    names = [n for n, _ in lstm.named_parameters()]
    assert names[:2] == ["W_e", "W_xi"] and lstm.W_e.shape == (28, 8) and lstm.W_xi.shape == (8, 16)
    assert lstm.W_e.std().item() == pytest.approx(1.0, rel=0.2)      # torch.nn.Embedding's N(0, 1)
    X, _ = data(2)
    lstm.eval()
    state = lstm.begin_state(B)
    # the one-hot vector times W_e, then the one-hot model's first layer on those rows
    onehot = F.one_hot(X, 28).double()
    p = {n: t.detach().double() for n, t in lstm.named_parameters()}
    expected = book_logits_from_rows(onehot @ p["W_e"], p, [(s[0].double(), s[1].double()) for s in zip(*state)])
    logits, _ = lstm.double()(X, tuple(s.double() for s in state))
    torch.testing.assert_close(logits, expected)
    lstm.train()
    torch.manual_seed(0)
    a, _ = lstm(X, lstm.begin_state(B))
    torch.manual_seed(1)
    b, _ = lstm(X, lstm.begin_state(B))
    assert not torch.allclose(a, b)  # dropout on the embedding (and between layers) while training


def book_logits_from_rows(rows, p, states):
    """book_lstm_step over given input rows (batch, steps, E), two layers, then the output layer."""
    outputs = []
    for t in range(rows.shape[1]):
        x = rows[:, t]
        for layer in range(2):
            states[layer] = book_lstm_step(x, states[layer], p, "" if layer == 0 else f"_l{layer + 1}")
            x = states[layer][0]
        outputs.append(x @ p["W_hq"] + p["b_q"])
    return torch.stack(outputs, 1)


# ---------------------------------------------------------------- PyTorch's own cells ----

def test_lstm_equals_torch_nn_lstm_with_copied_weights():
    model = randomised(LSTMScratch(V, H))
    twin_rnn, twin_out = nn.LSTM(V, H, batch_first=True), nn.Linear(H, V)
    with torch.no_grad():  # torch's gate rows are i, f, g (the candidate), o
        twin_rnn.weight_ih_l0.copy_(torch.cat([model.W_xi, model.W_xf, model.W_xc, model.W_xo], 1).T)
        twin_rnn.weight_hh_l0.copy_(torch.cat([model.W_hi, model.W_hf, model.W_hc, model.W_ho], 1).T)
        twin_rnn.bias_ih_l0.copy_(torch.cat([model.b_i, model.b_f, model.b_c, model.b_o]))
        twin_rnn.bias_hh_l0.zero_()
        twin_out.weight.copy_(model.W_hq.T)
        twin_out.bias.copy_(model.b_q)
    X, Y = data(1)
    h0, c0 = random_state(model)
    logits, (h, c), grads = loss_and_grads(model, X, Y, (h0, c0))
    H_all, (h_n, c_n) = twin_rnn(F.one_hot(X, V).float(), (h0[None], c0[None]))
    theirs = twin_out(H_all)
    F.cross_entropy(theirs.reshape(-1, V), Y.reshape(-1)).backward()
    torch.testing.assert_close(logits, theirs.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h, h_n[0].detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(c, c_n[0].detach(), atol=1e-5, rtol=1e-5)
    for k, gate in enumerate("ifco"):
        rows = slice(k * H, (k + 1) * H)
        torch.testing.assert_close(grads[f"W_x{gate}"], twin_rnn.weight_ih_l0.grad[rows].T, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(grads[f"W_h{gate}"], twin_rnn.weight_hh_l0.grad[rows].T, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(grads[f"b_{gate}"], twin_rnn.bias_ih_l0.grad[rows], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads["W_hq"], twin_out.weight.grad.T, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads["b_q"], twin_out.bias.grad, atol=1e-5, rtol=1e-5)


def _torch_gru_copy(model):
    twin = nn.GRU(V, H, batch_first=True)
    with torch.no_grad():  # torch's gate rows are r, z, n (the candidate)
        twin.weight_ih_l0.copy_(torch.cat([model.W_xr, model.W_xz, model.W_xh], 1).T)
        twin.weight_hh_l0.copy_(torch.cat([model.W_hr, model.W_hz, model.W_hh], 1).T)
        twin.bias_ih_l0.copy_(torch.cat([model.b_r, model.b_z, model.b_h]))
        twin.bias_hh_l0.zero_()
    return twin


def test_gru_differs_from_torch_nn_gru_only_through_where_the_reset_gate_acts():
    """torch.nn.GRU's candidate is tanh(x W_xh + b_h + R ⊙ (H W_hh + b_hn)), the book's
    tanh(x W_xh + (R ⊙ H) W_hh + b_h): with b_hn = 0 they agree exactly when R is the same for
    every hidden unit (then R ⊙ (H W) = (R ⊙ H) W), and differ otherwise."""
    model = randomised(GRUScratch(V, H))
    X, _ = data(2)
    h0 = random_state(model)
    with torch.no_grad():
        ours, _ = model(X, h0)
        theirs, _ = _torch_gru_copy(model)(F.one_hot(X, V).float(), h0[None])
        states = torch.stack([model(X[:, :t + 1], h0)[1] for t in range(T)], 1)
        assert (states - theirs).abs().max() > 1e-2   # a different function of the same weights
        model.W_xr.zero_()
        model.W_hr.zero_()
        model.b_r.fill_(0.7)                         # R = sigmoid(0.7) for every unit and step
        theirs, h_n = _torch_gru_copy(model)(F.one_hot(X, V).float(), h0[None])
        _, h_last = model(X, h0)
        states = torch.stack([model(X[:, :t + 1], h0)[1] for t in range(T)], 1)
    torch.testing.assert_close(states, theirs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h_last, h_n[0], atol=1e-5, rtol=1e-5)
    assert ours.shape == (B, T, V)


# ------------------------------------------------------------------ the fast recurrence ----

@pytest.mark.parametrize("cls", [GRUScratch, LSTMScratch])
def test_hand_derived_backward_matches_autograd_at_a_oneDNN_size(cls):
    """Hidden 256: the sizes where the packed oneDNN matmuls run by default."""
    model = randomised(cls(V, 256, num_layers=2), scale=0.1)
    X, Y = data(4, batch=2, steps=4)
    state = random_state(model, batch=2)
    fast = loss_and_grads(model, X, Y, state)
    model.zero_grad()
    H_all, _ = model._top_states(X, state, probe=torch.zeros(4, 2, 256))  # the plain-autograd loop
    F.cross_entropy(model._output(H_all).reshape(-1, V), Y.reshape(-1)).backward()
    torch.testing.assert_close(fast[0], model._output(H_all).detach(), atol=1e-5, rtol=1e-4)
    for name, p in model.named_parameters():
        torch.testing.assert_close(fast[2][name], p.grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("cls", [GRUScratch, LSTMScratch])
def test_state_gradient_matches_autograd_at_a_oneDNN_size(cls):
    """dL/dh0 (and dL/dc0) through the fast path, which computes them only when asked for."""
    model = randomised(cls(V, 256), scale=0.1)
    X, Y = data(6, batch=2, steps=5)
    grads = []
    for probe in (None, torch.zeros(5, 2, 256)):
        state = random_state(model, batch=2)
        state = tuple(s.requires_grad_() for s in state) if isinstance(state, tuple) else (state.requires_grad_(),)
        arg = state if len(state) > 1 else state[0]
        if probe is None:
            logits, _ = model(X, arg)
        else:                                         # the plain-autograd loop
            H_all, _ = model._top_states(X, arg, probe)
            logits = model._output(H_all)
        grads.append(torch.autograd.grad(F.cross_entropy(logits.reshape(-1, V), Y.reshape(-1)), state))
    for fast, plain in zip(*grads):
        torch.testing.assert_close(fast, plain, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("cls", [GRUScratch, LSTMScratch])
def test_state_gradient_and_carrying(cls, kernels_backend):
    """Two halves with the state carried give the whole; the state's own gradient is exact."""
    model = randomised(cls(V, H, num_layers=2))
    X, _ = data(5)
    state = random_state(model)
    whole, final = model(X, state)
    first, mid = model(X[:, :2], state)
    second, end = model(X[:, 2:], mid)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    for a, b in zip(*(s if isinstance(s, tuple) else (s,) for s in (end, final))):
        torch.testing.assert_close(a, b)

    leaves = tuple(s.clone().double().requires_grad_() for s in (state if isinstance(state, tuple) else (state,)))
    model.double()
    check = lambda *s: model(X, s if len(s) > 1 else s[0])[0].square().sum()  # noqa: E731
    assert torch.autograd.gradcheck(check, leaves, atol=1e-6)


@pytest.mark.parametrize("cls", [GRUScratch, LSTMScratch])
def test_gradient_probe_gives_the_total_derivative_of_each_hidden_state(cls):
    """dL/d probe_t = dL/dH_t through every later step: restarting the model from H_t (a leaf
    state) over the remaining steps gives the same gradient."""
    model = randomised(cls(V, H)).double()
    X, Y = data(6)
    probe = torch.zeros(T, B, H, dtype=torch.float64, requires_grad=True)
    dprobe = torch.autograd.grad(F.cross_entropy(model.flow_states(X, model.begin_state(B), probe), Y[:, -1]),
                                 probe)[0]
    t = 2
    _, state = model(X[:, :t + 1], model.begin_state(B))
    state = tuple(s.detach().requires_grad_() for s in state) if isinstance(state, tuple) \
        else state.detach().requires_grad_()
    rest, _ = model(X[:, t + 1:], state)
    leaf = state[0] if isinstance(state, tuple) else state
    direct = torch.autograd.grad(F.cross_entropy(rest[:, -1], Y[:, -1]), leaf)[0]
    torch.testing.assert_close(dprobe[t], direct)


# -------------------------------------------------------------- dropout, state, stepper ----

@pytest.mark.parametrize("cls", [GRUScratch, LSTMScratch])
def test_dropout_acts_in_training_only(cls):
    X, _ = data(7)
    plain = cls(V, H, num_layers=2, generator=torch.Generator().manual_seed(0))
    dropped = cls(V, H, num_layers=2, dropout=0.5, generator=torch.Generator().manual_seed(0))
    randomised(plain), randomised(dropped)
    expected, _ = plain(X, plain.begin_state(B))
    dropped.eval()
    torch.testing.assert_close(dropped(X, dropped.begin_state(B))[0], expected)
    dropped.train()
    torch.manual_seed(0)
    a, _ = dropped(X, dropped.begin_state(B))
    b, _ = dropped(X, dropped.begin_state(B))
    assert (a - expected).abs().max() > 1e-3 and (a - b).abs().max() > 1e-3
    plain.train()
    torch.testing.assert_close(plain(X, plain.begin_state(B))[0], expected)  # p = 0: no change


@pytest.mark.parametrize("cls", [GRUScratch, LSTMScratch])
@pytest.mark.parametrize("layers,embed", [(1, 0), (3, 0), (2, 4)])
def test_stepper_matches_forward_and_state_shapes(cls, layers, embed, kernels_backend):
    model = randomised(cls(V, H, num_layers=layers, embed_size=embed)).eval()
    X = torch.tensor([[3, 1, 4, 1, 5, 2, 6, 0]])
    logits, state = model(X, model.begin_state(1))
    shape = (1, H) if layers == 1 else (layers, 1, H)
    parts = state if isinstance(state, tuple) else (state,)
    assert all(s.shape == shape for s in parts)
    bias = torch.arange(V, dtype=torch.float32) / V  # a logit bias, as generation's mask
    step, s = model.stepper(bias), model.begin_state(1)
    for t, index in enumerate(X[0].tolist()):
        out, s = step(index, s)
        torch.testing.assert_close(out[0], logits[0, t] + bias, atol=1e-6, rtol=1e-5)
        for mine, theirs in zip(s if isinstance(s, tuple) else (s,), parts if t == 7 else ()):
            torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=1e-5)
    # a state the stepper did not make (here: from a forward pass over the first five tokens)
    with torch.no_grad():  # the stepper works outside autograd
        _, middle = model(X[:, :5], model.begin_state(1))
    step = model.stepper()
    for t in range(5, 8):
        out, middle = step(X[0, t].item(), middle)
        torch.testing.assert_close(out[0], logits[0, t], atol=1e-6, rtol=1e-5)


def test_empty_sequence_and_detach_state():
    model = LSTMScratch(V, H)
    state = random_state(model)
    logits, same = model(torch.zeros(B, 0, dtype=torch.long), state)
    assert logits.shape == (B, 0, V) and same is state
    pair = tuple(s.requires_grad_() * 2 for s in state)
    assert all(not s.requires_grad for s in detach_state(pair)) and isinstance(detach_state(pair), tuple)
    assert not detach_state(pair[0]).requires_grad


# ------------------------------------------------------------------------------- CUDA ----

@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cls", [GRUScratch, LSTMScratch])
def test_same_logits_and_gradients_on_cuda_and_cpu(cls):
    """The fast recurrences on CUDA (plain matmuls, no oneDNN) against the CPU, in float64."""
    results = {}
    for device in ("cpu", "cuda"):
        model = randomised(cls(V, 48, num_layers=2)).double().to(device)
        X, Y = data(7, batch=4, steps=12)
        state = random_state(model.cpu(), batch=4)
        model.to(device)
        state = tuple(s.double().to(device) for s in state) if isinstance(state, tuple) else state.double().to(device)
        logits, _, grads = loss_and_grads(model, X.to(device), Y.to(device), state)
        results[device] = (logits.cpu(), {n: g.cpu() for n, g in grads.items()})
    torch.testing.assert_close(results["cuda"][0], results["cpu"][0], rtol=1e-9, atol=1e-11)
    for name, grad in results["cpu"][1].items():
        torch.testing.assert_close(results["cuda"][1][name], grad, rtol=1e-9, atol=1e-11, msg=name)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_gated_cell_trains_and_generates_on_cuda():
    from engine import generate
    from engine.config import resolve
    from engine.train import Trainer
    from engine.vocab import corpus_from_text

    corpus, vocab = corpus_from_text("the time traveller was expounding a recondite matter to us " * 20)
    trainer = Trainer(resolve(cell="lstm", hidden=32, steps=8, batch=4, epochs=2, device="cuda"),
                      corpus, vocab)
    records = list(trainer.run())
    assert trainer.model.W_hq.is_cuda and records[-1].val_perplexity < len(vocab)
    text = "".join(generate(trainer.snapshot_model(), vocab, "the ", 10,
                            generator=torch.Generator().manual_seed(0)))
    assert len(text) == 10
