"""engine.gradient_paths: the terms of BPTT against the hand-derived backward and plain autograd."""
import pytest
import torch
import torch.nn.functional as F
from test_unroll import V, model_of

import engine.gated
import engine.gradient_paths as gp
import engine.model
from engine.bptt import bptt_gradients
from engine.cells import build_model
from engine.errors import ConfigError
from engine.gradient_paths import (bptt_paths, corpus_row, gradient_norms, mean_by_distance, num_rows, path_shares,
                                   truncation_dropped)
from engine.unroll import unroll

pytestmark = pytest.mark.usefixtures("one_thread")

T = 7
CASES = [("rnn", 1, 0), ("rnn", 2, 0), ("gru", 1, 0), ("gru", 2, 4), ("lstm", 1, 0), ("lstm", 2, 4)]


def sequence(seed=0, steps=T):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (steps,), generator=g), torch.randint(0, V, (steps,), generator=g)


def fused_dL_dh(model, X, Y, layer, monkeypatch):
    """dL/dh_t (t = 0..T-1) of ``layer`` from the models' own forward, whose backward is the
    hand-derived BPTT (engine/bptt.py, engine/gated_bptt.py), L the summed cross-entropy.

    The recurrences are observed from the outside: the functions the models call are wrapped to
    note their outputs.  For each t the sequence runs as two calls of the public forward, steps
    0..t and t+1..T-1, with the state carried from one to the other.  The layer's h_t is then
    twice an output of the first call's recurrence: the last of its states (read by the layer
    above or the output layer) and its final state (read by the second call, so by every later
    step).  The gradients reaching the two, both from the hand-derived backward passes, add up
    to dL/dh_t."""
    calls = []

    def spy(recurrence, time_major):
        def noted(*args):
            out = recurrence(*args)
            calls.append((out[0], out[1], time_major))
            return out
        return noted

    monkeypatch.setattr(engine.model, "rnn_recurrence", spy(engine.model.rnn_recurrence, False))
    monkeypatch.setattr(engine.gated, "gru_recurrence", spy(engine.gated.gru_recurrence, True))
    monkeypatch.setattr(engine.gated, "lstm_recurrence", spy(engine.gated.lstm_recurrence, True))
    X, Y = X[None], Y[None]
    steps, grads = X.shape[1], []
    for t in range(steps):
        calls.clear()
        logits, state = model(X[:, :t + 1], model.begin_state(1))
        H_all, h_last, time_major = calls[layer]  # the first call's recurrences, one per layer, bottom first
        if t + 1 < steps:
            logits = torch.cat([logits, model(X[:, t + 1:], state)[0]], 1)
        loss = F.cross_entropy(logits[0], Y[0], reduction="sum")
        d_all, d_last = torch.autograd.grad(loss, (H_all, h_last), allow_unused=True)
        direct = d_all[-1] if time_major else d_all[:, -1]
        grads.append(direct[0] + (d_last[0] if d_last is not None else 0))
    monkeypatch.undo()
    return torch.stack(grads)


def per_loss_autograd(model, X, Y, layer):
    """G by the definition: each L_s backpropagated separately through one step-by-step forward."""
    run = unroll(model, X[None])
    hs = run.acts[f"l{layer + 1}.h"]
    G = torch.zeros(len(X), len(X), model.num_hiddens)
    for s in range(len(X)):
        L_s = F.cross_entropy(run.logits[0, s], Y[s])
        for t, g in enumerate(torch.autograd.grad(L_s, hs, retain_graph=True, allow_unused=True)):
            if g is not None:
                G[t, s] = g[0]
    return G


@pytest.mark.parametrize("cell,layers,embed", CASES)
def test_the_paths_add_up_to_the_hand_derived_gradient(cell, layers, embed, monkeypatch):
    model = model_of(cell, layers, embed)
    X, Y = sequence(1)
    for layer in range(layers):
        C, G = bptt_paths(model, X, Y, layer=layer)
        assert G.shape == (T, T, model.num_hiddens) and C.shape == (T, T)
        want = fused_dL_dh(model, X, Y, layer, monkeypatch)
        torch.testing.assert_close(G.sum(1), want, atol=1e-5, rtol=1e-4, msg=f"layer {layer}")
        torch.testing.assert_close(gradient_norms(G), want.norm(dim=-1), atol=1e-5, rtol=1e-4)
    # -1 is the top layer
    torch.testing.assert_close(bptt_paths(model, X, Y, layer=-1)[1], bptt_paths(model, X, Y, layer=layers - 1)[1])


@pytest.mark.parametrize("cell,layers,embed", CASES)
def test_each_term_is_the_gradient_of_its_own_loss(cell, layers, embed, monkeypatch):
    """Against backpropagating each L_s alone; a small LOSSES_AT_ONCE splits the losses into
    several passes, and the weights do not require grad (as in a snapshot of a training run)."""
    monkeypatch.setattr(gp, "LOSSES_AT_ONCE", 3)
    model = model_of(cell, layers, embed)
    X, Y = sequence(2)
    want = per_loss_autograd(model, X, Y, 0)
    model.requires_grad_(False)
    C, G = bptt_paths(model, X, Y, layer=0)
    torch.testing.assert_close(G, want, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(C, want.norm(dim=-1), atol=1e-6, rtol=1e-5)
    # no path runs backwards in time: exactly zero for s < t, and something on every s >= t
    t, s = torch.meshgrid(torch.arange(T), torch.arange(T), indexing="ij")
    assert (G[s < t] == 0).all() and (C[s >= t] > 0).all()


def test_a_given_state_is_where_the_sequence_starts(monkeypatch):
    model = model_of("lstm", 2, 4)
    X, Y = sequence(3)
    g = torch.Generator().manual_seed(9)
    state = tuple(torch.randn(2, 1, model.num_hiddens, generator=g) for _ in range(2))
    C, _ = bptt_paths(model, X, Y, state)
    run = unroll(model, X[None], state)
    L_last = F.cross_entropy(run.logits[0, -1], Y[-1])
    (g_first,) = torch.autograd.grad(L_last, run.acts["l2.h"][0])
    assert float(C[0, -1]) == pytest.approx(float(g_first.norm()), rel=1e-5)
    assert not torch.allclose(C, bptt_paths(model, X, Y)[0])


def test_the_rnn_paths_add_up_to_bptt_gradients_dh_norms():
    """engine.bptt.bptt_gradients spells BPTT out by hand; its ||dL/dH_t|| is of the mean loss."""
    model = model_of("rnn", 1, 0)
    X, Y = sequence(4)
    _, G = bptt_paths(model, X, Y)
    p = dict(model.named_parameters())
    ref = bptt_gradients(X[None], Y[None], model.begin_state(1),
                         *(p[name] for name in ("W_xh", "W_hh", "b_h", "W_hq", "b_q")))
    torch.testing.assert_close(G.sum(1).norm(dim=-1) / T, ref["dh_norms"], atol=1e-6, rtol=1e-4)


def test_a_small_W_hh_makes_the_paths_decay_geometrically():
    """With W_hh = a Q (Q orthogonal) each step back multiplies a term by diag(1 - h_k²) a Q^T, so
    C[t, s] / C[t + 1, s] lies in [a min(1 - h_(t+1)²), a]: a geometric decay in s - t."""
    a, steps = 0.3, 12
    model = build_model("rnn", V, 16, generator=torch.Generator().manual_seed(0)).eval()
    Q, _ = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        model.W_hh.copy_(a * Q)
        model.W_xh.mul_(20)  # states of a few tenths: tanh' is visibly below 1
    X, Y = sequence(5, steps)
    C, _ = bptt_paths(model, X, Y)
    with torch.no_grad():
        h = unroll(model, X[None]).stacked("l1.h")[0]
    slope = 1 - h ** 2
    assert 0.5 < float(slope.min()) < 0.99
    for s in range(steps):
        for t in range(s):
            ratio = float(C[t, s] / C[t + 1, s])
            assert a * float(slope[t + 1].min()) - 1e-6 <= ratio <= a + 1e-6, (t, s, ratio)
    # so after d steps back a term is at most a^d of the direct one
    for d in range(1, steps):
        assert all(C[s - d, s] <= a ** d * C[s, s] * (1 + 1e-5) for s in range(d, steps))
    assert float(C[0, steps - 1] / C[steps - 1, steps - 1]) < a ** (steps - 1)


def test_shares_and_truncation_against_sums_over_C():
    g = torch.Generator().manual_seed(6)
    C = torch.rand(9, 9, generator=g).triu()  # C[t, s] > 0 only for s >= t
    C[4, 6] = 0
    shares = path_shares(C)
    for k in (0, 1, 3, 8, 20):
        per_t, overall = truncation_dropped(C, k)
        want = []
        for t in range(9):
            total = sum(float(C[t, s]) for s in range(t, 9))
            want.append(sum(float(C[t, s]) for s in range(t, 9) if s - t > k) / total)
            assert sum(float(shares[t, s]) for s in range(9)) == pytest.approx(1.0)
        assert per_t.tolist() == pytest.approx(want)
        with_paths = [want[t] for t in range(9) if t + k + 1 < 9]
        assert overall == pytest.approx(sum(with_paths) / len(with_paths) if with_paths else 0.0)
    assert (path_shares(torch.zeros(3, 3)) == 0).all()


def test_bounds_are_one_line_errors():
    model = model_of("gru", 2, 0)
    X, Y = sequence(7, gp.MAX_STEPS + 1)
    with pytest.raises(ConfigError, match="1 to 128 steps"):
        bptt_paths(model, X, Y)
    X, Y = sequence(7)
    for layer in (2, -3):
        with pytest.raises(ConfigError, match="2 layer"):
            bptt_paths(model, X, Y, layer=layer)
    with pytest.raises(ValueError, match="one sequence"):
        bptt_paths(model, X[None], Y[None])
    with pytest.raises(ConfigError, match="from 0"):
        truncation_dropped(torch.zeros(2, 2), -1)


def test_corpus_rows_are_consecutive_windows():
    tokens = torch.arange(23)
    X, Y = corpus_row(tokens, 2, 5)
    assert X.tolist() == list(range(10, 15)) and Y.tolist() == list(range(11, 16))
    assert corpus_row(tokens, 3, 5)[1][-1] == 20  # the last whole row: 4 rows of 5 need 21 tokens
    with pytest.raises(ConfigError, match="0 to 3"):
        corpus_row(tokens, 4, 5)
    with pytest.raises(ConfigError, match="too few"):
        corpus_row(tokens, 0, 30)
    assert len(corpus_row(tokens, 0, 22)[0]) == 22
    assert [num_rows(23, steps) for steps in (5, 22, 23)] == [4, 1, 0]
    # a token file's narrow indices, read through a table into a model's: int64 for the model
    X, Y = corpus_row(tokens.to(torch.uint8), 2, 5, torch.arange(23) * 10)
    assert X.dtype == Y.dtype == torch.int64
    assert X.tolist() == list(range(100, 150, 10)) and Y.tolist() == list(range(110, 160, 10))


def test_mean_by_distance_averages_the_diagonals():
    C = torch.arange(16.0).reshape(4, 4).triu()
    m = mean_by_distance(C)
    assert m.tolist() == [(0 + 5 + 10 + 15) / 4, (1 + 6 + 11) / 3, (2 + 7) / 2, 3.0]
