"""Backpropagation through time, derived by hand (d2l 8.7, seed notes "RNN 梯度慢慢推导").

The scratch RNN, with A_t the pre-activation of step t:

    A_t = X_t W_xh + H_{t-1} W_hh + b_h,   H_t = tanh(A_t),   O_t = H_t W_hq + b_q

The gradient reaching H_t has two sources: its own output O_t, and the next
step, through W_hh:

    dH_t = dO_t W_hq^T + dA_{t+1} W_hh^T,   dA_t = dH_t * (1 - H_t^2)

Only that recurrence is sequential.  Every weight gradient is a sum over time,
so it is one large matmul after the loop instead of one small one per step:

    dW_hh = sum_t H_{t-1}^T dA_t   db_h = sum_t dA_t   dh_0 = dA_1 W_hh^T
    dW_hq = sum_t H_t^T dO_t       db_q = sum_t dO_t   dW_xh[x] += dA_t (rows of the inputs)

:func:`bptt_gradients` spells the whole computation out for a loss (the
reference the tests hold against autograd); :func:`rnn_recurrence` is the same
recurrence as an autograd function, the fast path for training, and
:func:`linear` the output layer over all steps.  Internally states are
time-major, (steps, batch, hidden), so each step reads and writes one
contiguous block.  The products and activations go through engine/kernels (the
machine-specific part: oneDNN on the CPU where it is faster, tanh through the
sigmoid, a portable path in public torch for everything else).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import kernels


def _forward_states(XW: torch.Tensor, h0: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor,
                    K: kernels.Portable) -> torch.Tensor:
    """All states, time-major, with h0 in front: (steps + 1, batch, hidden)."""
    s = K.tanh_scale  # the backend's tanh takes s A_t (see engine/kernels)
    Hs = torch.empty((XW.shape[1] + 1, *h0.shape), dtype=h0.dtype, device=h0.device)
    Hs[0] = h0
    torch.add(b_h * s, XW.transpose(0, 1), alpha=s, out=Hs[1:])  # input terms first, all steps at once
    times = K.product(W_hh * s, h0.shape[0], XW.shape[1])
    states = Hs.unbind(0)
    for prev, cur in zip(states, states[1:]):
        K.gates_(cur.add_(times(prev)))
    return Hs


def _backward_through_time(dH: torch.Tensor, Hs: torch.Tensor, W_hh: torch.Tensor, K: kernels.Portable,
                           dh_last: torch.Tensor | None = None) -> torch.Tensor:
    """dA (steps, batch, hidden) from dH, each dH_t's direct term (time-major, left unchanged),
    and the carried state's gradient ``dh_last``."""
    dA = torch.empty_like(Hs[1:])
    back = K.product(W_hh.t(), dA.shape[1], dA.shape[0] - 1)
    grad = dH[-1] if dh_last is None else dH[-1] + dh_last  # all that reaches H_t: at the last step
    for t in range(dA.shape[0] - 1, -1, -1):
        K.tanh_backward(grad, Hs[t + 1], out=dA[t])
        if t:
            grad = back(dA[t]).add_(dH[t - 1])  # dA_t W_hh^T + the direct term of H_{t-1}
    return dA


def _weight_gradients(dA: torch.Tensor, Hs: torch.Tensor, W_hh: torch.Tensor, K: kernels.Portable,
                      with_h0: bool = True):
    """(dW_hh, db_h, dh0) from the finished dA: the sums over time as single ops.
    dh0 is None unless asked for (a fresh or detached state needs none)."""
    hidden = Hs.shape[-1]
    dW_hh = K.matmul(Hs[:-1].reshape(-1, hidden).t(), dA.reshape(-1, hidden))
    dh0 = K.matmul(dA[0], W_hh.t()) if with_h0 else None
    return dW_hh, dA.sum((0, 1)), dh0


class _RNNRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, XW, h0, W_hh, b_h):
        ctx.kernels = K = kernels.for_tensor(h0)
        Hs = _forward_states(XW, h0, W_hh, b_h, K)
        ctx.save_for_backward(Hs, W_hh)
        # h_last is cloned so that it is not a view overlapping H_all (callers detach and reuse it)
        return Hs[1:].transpose(0, 1), Hs[-1].clone()

    @staticmethod
    def backward(ctx, dH_all, dh_last):
        Hs, W_hh = ctx.saved_tensors
        dA = _backward_through_time(dH_all.transpose(0, 1), Hs, W_hh, ctx.kernels, dh_last)
        dW_hh, db_h, dh0 = _weight_gradients(dA, Hs, W_hh, ctx.kernels, ctx.needs_input_grad[1])
        return dA.transpose(0, 1), dh0, dW_hh, db_h


def rnn_recurrence(XW: torch.Tensor, h0: torch.Tensor, W_hh: torch.Tensor,
                   b_h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """H_t = tanh(XW_t + H_{t-1} W_hh + b_h) for every step, with hand-derived BPTT.

    XW: (batch, steps, hidden), the input projections (rows of W_xh gathered
    by token id); h0: (batch, hidden).  Returns (H_all (batch, steps, hidden),
    h_last (batch, hidden)).  H_all is a transposed view of a time-major
    buffer: ``H_all.transpose(0, 1).reshape(-1, hidden)`` is free.
    """
    return _RNNRecurrence.apply(XW, h0, W_hh, b_h)


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, b):
        ctx.kernels = kernels.for_tensor(x)
        ctx.save_for_backward(x, W)
        return ctx.kernels.affine(x, W, b)

    @staticmethod
    def backward(ctx, dY):
        x, W = ctx.saved_tensors
        K = ctx.kernels
        return K.matmul(dY, W.t()), K.matmul(x.t(), dY), dY.sum(0)


def linear(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x @ W + b for x (rows, in), W (in, out), b (out): the output layer over all steps at
    once, its three matmuls (forward, dx, dW) on the same kernels as the recurrence's."""
    return _Linear.apply(x, W, b)


@torch.no_grad()
def bptt_gradients(X: torch.Tensor, Y: torch.Tensor, h0: torch.Tensor, W_xh: torch.Tensor,
                   W_hh: torch.Tensor, b_h: torch.Tensor, W_hq: torch.Tensor,
                   b_q: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every gradient of the mean cross-entropy over all tokens, by the formulas above.

    X, Y: (batch, steps) token ids, inputs and targets.  Returns a dict with
    the gradient of each parameter under its own name, ``"h0"`` (dL/dh0),
    ``"loss"``, and ``"dh_norms"``: ||dL/dH_t|| (over batch and hidden) for
    t = 1..steps, the quantity that vanishes or explodes as it flows back.
    """
    batch, steps = X.shape
    K = kernels.for_tensor(h0)
    Hs = _forward_states(W_xh[X], h0, W_hh, b_h, K)
    H = Hs[1:]                                   # (steps, batch, hidden)
    O = H @ W_hq + b_q                           # (steps, batch, vocab)
    targets = Y.t()
    loss = F.cross_entropy(O.reshape(-1, O.shape[-1]), targets.reshape(-1))
    # d(mean cross-entropy)/dO = (softmax(O) - onehot(y)) / number of tokens
    dO = torch.softmax(O, dim=-1)
    dO.scatter_add_(-1, targets.unsqueeze(-1), -torch.ones_like(dO[..., :1]))
    dO /= batch * steps
    dH_direct = dO @ W_hq.t()                    # what each H_t gets from its own output
    dA = _backward_through_time(dH_direct, Hs, W_hh, K)
    dW_hh, db_h, dh0 = _weight_gradients(dA, Hs, W_hh, K)
    hidden = H.shape[-1]
    dW_xh = torch.zeros_like(W_xh).index_add_(0, X.t().reshape(-1), dA.reshape(-1, hidden))
    dH = dH_direct
    dH[:-1] += dA[1:] @ W_hh.t()                 # add what flowed back from H_{t+1}
    return {
        "W_xh": dW_xh, "W_hh": dW_hh, "b_h": db_h,
        "W_hq": H.reshape(-1, hidden).t() @ dO.reshape(-1, dO.shape[-1]),
        "b_q": dO.sum((0, 1)), "h0": dh0,
        "loss": loss, "dh_norms": dH.flatten(1).norm(dim=1),
    }
