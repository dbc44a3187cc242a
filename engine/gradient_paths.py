"""Backpropagation through time as a sum of paths (seed notes "RNN 梯度慢慢推导", d2l 8.7).

The loss of a sequence is the sum of the losses of its steps, L = L_0 + ... + L_{T-1}, and h_t
reaches L_s (s >= t) only through h_{t+1}, ..., h_s, so the gradient reaching h_t splits into one
term per later loss, each term one path through time:

    dL/dh_t = Σ_{s >= t} ∂L_s/∂h_t,   ∂L_s/∂h_t = ∂L_s/∂h_s · ∂h_s/∂h_{s-1} ··· ∂h_{t+1}/∂h_t

For the book's RNN each factor is ∂h_{k}/∂h_{k-1} = diag(1 - h_k²) W_hh^T, and a product of s - t of
them shrinks or grows geometrically with s - t: the vanishing and exploding gradients that
clipping and the gated cells answer.  This module computes every term, G[t, s] = ∂L_s/∂h_t, without
assuming that formula: each L_s is backpropagated on its own through the step-by-step forward of
engine.unroll (plain autograd), so G holds what autograd finds for any cell and depth; its sum over
s is the hand-derived BPTT's dL/dh_t (tests/test_gradient_paths.py holds them together).

From C[t, s] = ||G[t, s]|| (the size of each path's term) come the shares the app shows: the share
of column t's path norms, Σ_s C[t, s], that comes from L_s, and the share that truncated BPTT with
k steps throws away (the paths with s - t > k).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import ConfigError
from .unroll import input_vectors, unroll

MAX_STEPS = 128     # T x T x H terms: beyond this the figure is unreadable and the cost quadratic
LOSSES_AT_ONCE = 32  # losses backpropagated together (one batch of independent copies); bounds memory


def check_steps(steps: int) -> int:
    """``steps`` if it is a sequence length the paths can be computed for, else a one-line error."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise ConfigError(f"steps {steps!r}: the paths of BPTT are computed for 1 to {MAX_STEPS} steps "
                          f"(T x T terms); use --steps {MAX_STEPS} or fewer")
    return steps


def layer_index(model, layer: int) -> int:
    """A 0-based layer of ``model`` from ``layer`` counted Python-style (-1: the top)."""
    layers = model.num_layers
    if isinstance(layer, bool) or not isinstance(layer, int) or not -layers <= layer < layers:
        raise ConfigError(f"layer {layer!r}: the model has {layers} layer(s); use 0 to {layers - 1} "
                          f"(or -1 for the top)")
    return layer % layers


def _batch_of(state, copies: int):
    """A batch-1 state (the model's own layout) repeated for ``copies`` independent sequences."""
    if isinstance(state, tuple):
        return tuple(_batch_of(s, copies) for s in state)
    return state.expand(*state.shape[:-2], copies, state.shape[-1])


def bptt_paths(model, X: torch.Tensor, Y: torch.Tensor, state=None, layer: int = -1
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(C, G)`` for one sequence: X, Y (T,) tokens and their next tokens, T <= MAX_STEPS, read
    from ``state`` (batch 1, the model's layout; None: ``begin_state``).

    G (T, T, H): G[t, s] = ∂L_s/∂h_t, with L_s the cross-entropy of step s's prediction and h_t the
    hidden state of layer ``layer`` (0 at the bottom, -1 the top; the LSTM's h, not its memory
    cell c) after step t; zero for s < t.  C (T, T) = ||G|| over the last axis.

    Each L_s is backpropagated alone: the sequence runs as a batch of copies, copy i carrying only
    its own loss L_{s_i}; the copies share no computation, so the gradient that reaches copy i's
    h_t is exactly ∂L_{s_i}/∂h_t (one backward per loss, LOSSES_AT_ONCE of them per pass)."""
    if X.dim() != 1 or Y.shape != X.shape:
        raise ValueError(f"X and Y must be one sequence of tokens each (T,), not {tuple(X.shape)} and "
                         f"{tuple(Y.shape)}")
    steps = check_steps(len(X))
    key = f"l{layer_index(model, layer) + 1}.h"
    if state is None:
        state = model.begin_state(1)
    G = model.W_hq.new_zeros(steps, steps, model.num_hiddens)
    with torch.enable_grad():
        for first in range(0, steps, LOSSES_AT_ONCE):
            losses = torch.arange(first, min(steps, first + LOSSES_AT_ONCE), device=X.device)
            copies, length = len(losses), int(losses[-1]) + 1  # no loss here looks past step `length`
            Xs = X[:length].expand(copies, length)
            # the inputs as a leaf that requires grad: the states become differentiable even when the
            # weights do not (a snapshot or a loaded model); one copy's, seen by every copy
            inputs = input_vectors(model, Xs[:1]).detach().requires_grad_()
            run = unroll(model, Xs, _batch_of(state, copies), inputs=inputs.expand(copies, -1, -1))
            picked = run.logits[torch.arange(copies, device=X.device), losses]  # copy i: step s_i's logits
            loss = F.cross_entropy(picked, Y[losses], reduction="sum")
            grads = torch.autograd.grad(loss, run.acts[key])  # per step t: (copies, H), row i = ∂L_{s_i}/∂h_t
            G[:length, first:first + copies] = torch.stack(grads).detach()
    return torch.linalg.vector_norm(G, dim=-1), G


def path_shares(C: torch.Tensor) -> torch.Tensor:
    """S[t, s] = C[t, s] / Σ_s' C[t, s']: the share of column t's path norms that comes from L_s
    (0 where nothing reaches h_t)."""
    total = C.sum(1, keepdim=True)
    return torch.where(total > 0, C / total.clamp_min(torch.finfo(C.dtype).tiny), torch.zeros_like(C))


def truncation_dropped(C: torch.Tensor, k: int) -> tuple[torch.Tensor, float]:
    """What truncated BPTT with ``k`` steps drops: the paths from h_t to L_s with s - t > k.

    Returns ``(per_t, overall)``: per_t[t] the dropped share of Σ_s C[t, s], and overall the mean of
    per_t over the t that have a path longer than k (t < T - 1 - k; the others lose nothing to
    truncation whatever the weights, and would only dilute the mean); 0.0 when no t has one."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ConfigError(f"truncation {k!r}: must be a whole number of steps from 0")
    steps = C.shape[0]
    t, s = torch.meshgrid(torch.arange(steps), torch.arange(steps), indexing="ij")
    per_t = (path_shares(C) * (s - t > k).to(C.dtype)).sum(1)
    reachable = steps - 1 - k
    return per_t, float(per_t[:reachable].mean()) if reachable > 0 else 0.0


def gradient_norms(G: torch.Tensor) -> torch.Tensor:
    """||dL/dh_t|| = ||Σ_s G[t, s]|| for every t: the norm of the sum of the terms, at most their
    norms' sum Σ_s C[t, s] (terms that point different ways cancel)."""
    return torch.linalg.vector_norm(G.sum(1), dim=-1)


def mean_by_distance(C: torch.Tensor) -> torch.Tensor:
    """m[d] = the mean of C[t, t + d] over t: how large a path of d steps back through time is."""
    return torch.stack([torch.diagonal(C, offset=d).mean() for d in range(C.shape[0])])


def num_rows(num_tokens: int, steps: int) -> int:
    """How many rows of ``steps`` tokens (and their next tokens) a text of ``num_tokens`` holds."""
    return (num_tokens - 1) // steps


def corpus_row(tokens: torch.Tensor, row: int, steps: int,
               table: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, Y)`` of row ``row`` of a token sequence cut into rows of ``steps`` tokens: X the tokens
    row·steps ... row·steps + steps - 1, Y the same shifted by one (the next tokens), as int64.
    ``table`` (engine.tokenfile.TokenFile.lookup) maps a token file's indices to a model's."""
    rows = num_rows(len(tokens), steps)
    if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < rows:
        raise ConfigError(f"row {row!r}: the text has {rows:,} rows of {steps} steps; use 0 to {rows - 1:,}"
                          if rows else f"the text has {len(tokens):,} tokens, too few for one row of {steps} "
                                       f"steps; lower --steps")
    start = row * steps
    window = tokens[start:start + steps + 1].long()
    if table is not None:
        window = table[window]
    return window[:-1], window[1:]
