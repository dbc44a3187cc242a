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
contiguous block.  On the CPU in float32 the matmuls go to oneDNN where it
beats BLAS, and tanh is taken through sigmoid (see the comments below): both
measured on the project's 2-core AMD EPYC, both within float32 rounding.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


# oneDNN's linear runs AVX-512 kernels where MKL's sgemm takes a slower path (AMD CPUs): about
# 2x per matmul at hidden >= 256 on the 2-core EPYC we measure; below that BLAS is as fast.
# A private op (inductor's), so only used where present, on the CPU, in float32.
try:
    _ONEDNN_LINEAR = torch.ops.mkldnn._linear_pointwise.default
    _ONEDNN_LINEAR_ADD = torch.ops.mkldnn._linear_pointwise.binary
except (AttributeError, RuntimeError):
    _ONEDNN_LINEAR = _ONEDNN_LINEAR_ADD = None
ONEDNN_MIN_HIDDEN = 256


def _use_onednn(t: torch.Tensor) -> bool:
    return (_ONEDNN_LINEAR is not None and t.device.type == "cpu" and t.dtype == torch.float32
            and t.shape[-1] >= ONEDNN_MIN_HIDDEN and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled)


def _linear_add(onednn: bool):
    """``f(x, w, add) = add + x @ w.T`` with w laid out as a linear layer's (out, in) weight;
    the BLAS version writes into ``add``, the oneDNN one returns a new tensor."""
    if onednn:
        return lambda x, w, add: _ONEDNN_LINEAR_ADD(x, add, w, None, "add")
    return lambda x, w, add: add.addmm_(x, w.t())


def _matmul(a: torch.Tensor, b: torch.Tensor, onednn: bool) -> torch.Tensor:
    return _ONEDNN_LINEAR(a, b.t(), None, "none", [], "") if onednn else a @ b


_MINUS_ONE = torch.tensor(-1.0)  # a CPU scalar: usable with tensors on any device


def _tanh_from_sigmoid_(s: torch.Tensor) -> torch.Tensor:
    """tanh(a) = 2 sigmoid(2a) - 1, in place on s = sigmoid(2a), in one pass: within ~2e-7 of tanh
    (float32 tanh: 3e-8)."""
    return torch.add(_MINUS_ONE, s, alpha=2, out=s)


def _tanh_from_double(a2: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """tanh(a), given 2a (see _tanh_from_sigmoid_)."""
    return _tanh_from_sigmoid_(torch.sigmoid(a2, out=out))


def _forward_states(XW: torch.Tensor, h0: torch.Tensor, W_hh: torch.Tensor,
                    b_h: torch.Tensor) -> torch.Tensor:
    """All states, time-major, with h0 in front: (steps + 1, batch, hidden)."""
    Hs = torch.empty((XW.shape[1] + 1, *h0.shape), dtype=h0.dtype, device=h0.device)
    Hs[0] = h0
    torch.add(XW.transpose(0, 1), b_h, out=Hs[1:])  # input terms first; each step adds H_{t-1} W_hh
    linear_add = _linear_add(_use_onednn(Hs))
    W = W_hh.t().contiguous()  # (out, in): oneDNN's layout, and BLAS multiplies faster by it too
    squash = torch.tanh
    if Hs.device.type == "cpu" and Hs.dtype == torch.float32:
        # torch's CPU tanh goes through MKL's VML, slow on AMD and single-threaded at this size
        # (36 us for 32 x 512, as much as the step's matmul); its sigmoid is vectorized (6 us).
        # The pre-activations are doubled up front (exact) so that each step yields 2 A_t.
        Hs[1:].mul_(2)
        W.mul_(2)
        squash = _tanh_from_double
    states = Hs.unbind(0)
    for prev, cur in zip(states, states[1:]):
        squash(linear_add(prev, W, cur), out=cur)
    return Hs


def _backward_through_time(dA: torch.Tensor, Hs: torch.Tensor, W_hh: torch.Tensor) -> None:
    """Turn dA (steps, batch, hidden), holding each dH_t's direct term, into dA_t in place."""
    H = Hs[1:]
    tanh_grad = torch.addcmul(torch.ones((), dtype=H.dtype, device=H.device), H, H, value=-1)
    linear_add = _linear_add(_use_onednn(dA))
    dAs, grads = dA.unbind(0), tanh_grad.unbind(0)
    dAs[-1].mul_(grads[-1])
    for t in range(len(dAs) - 2, -1, -1):
        torch.mul(linear_add(dAs[t + 1], W_hh, dAs[t]), grads[t], out=dAs[t])


def _weight_gradients(dA: torch.Tensor, Hs: torch.Tensor, W_hh: torch.Tensor, with_h0: bool = True):
    """(dW_hh, db_h, dh0) from the finished dA: the sums over time as single ops.
    dh0 is None unless asked for (a fresh or detached state needs none)."""
    hidden, onednn = Hs.shape[-1], _use_onednn(dA)
    dW_hh = _matmul(Hs[:-1].reshape(-1, hidden).t(), dA.reshape(-1, hidden), onednn)
    dh0 = _matmul(dA[0], W_hh.t(), onednn) if with_h0 else None
    return dW_hh, dA.sum((0, 1)), dh0


class _RNNRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, XW, h0, W_hh, b_h):
        Hs = _forward_states(XW, h0, W_hh, b_h)
        ctx.save_for_backward(Hs, W_hh)
        # h_last is cloned so that it is not a view overlapping H_all (callers detach and reuse it)
        return Hs[1:].transpose(0, 1), Hs[-1].clone()

    @staticmethod
    def backward(ctx, dH_all, dh_last):
        Hs, W_hh = ctx.saved_tensors
        dA = torch.empty_like(Hs[1:])
        dA.copy_(dH_all.transpose(0, 1))  # our own buffer: the recurrence overwrites it
        dA[-1] += dh_last                 # the carried state's gradient joins the last step's
        _backward_through_time(dA, Hs, W_hh)
        dW_hh, db_h, dh0 = _weight_gradients(dA, Hs, W_hh, ctx.needs_input_grad[1])
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
        ctx.onednn = _use_onednn(x)
        ctx.save_for_backward(x, W)
        if ctx.onednn:
            return _ONEDNN_LINEAR(x, W.t().contiguous(), b, "none", [], "")
        return torch.addmm(b, x, W)

    @staticmethod
    def backward(ctx, dY):
        x, W = ctx.saved_tensors
        return _matmul(dY, W.t(), ctx.onednn), _matmul(x.t(), dY, ctx.onednn), dY.sum(0)


def linear(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x @ W + b for x (rows, in), W (in, out), b (out): the output layer over all steps at
    once, its three matmuls (forward, dx, dW) on the same backend as the recurrence's."""
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
    Hs = _forward_states(W_xh[X], h0, W_hh, b_h)
    H = Hs[1:]                                   # (steps, batch, hidden)
    O = H @ W_hq + b_q                           # (steps, batch, vocab)
    targets = Y.t()
    loss = F.cross_entropy(O.reshape(-1, O.shape[-1]), targets.reshape(-1))
    # d(mean cross-entropy)/dO = (softmax(O) - onehot(y)) / number of tokens
    dO = torch.softmax(O, dim=-1)
    dO.scatter_add_(-1, targets.unsqueeze(-1), -torch.ones_like(dO[..., :1]))
    dO /= batch * steps
    dH_direct = dO @ W_hq.t()                    # what each H_t gets from its own output
    dA = dH_direct.clone()
    _backward_through_time(dA, Hs, W_hh)
    dW_hh, db_h, dh0 = _weight_gradients(dA, Hs, W_hh)
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
