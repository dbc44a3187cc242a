"""The GRU and LSTM recurrences with hand-derived backpropagation through time (the gated
cells' counterpart of engine/bptt.py; d2l 10.1-10.2).

Both take the input terms of all gates and steps at once, XW (steps, batch, gates*H), biases
included, and the hidden weights of all gates side by side, so a forward step is one or two
matmuls and a backward step the same number.  The weight gradients are sums over time, one
matmul after the loop; the GRU computes its gates' local derivatives for all steps before the
loop, the LSTM inside it, step by step, where they stay in cache (at hidden 256 the per-step
work is tens of small ops, so their count and memory traffic, not the arithmetic, set the
speed).  With a = pre-activation and s' = s (1 - s), tanh' = 1 - tanh^2:

GRU (columns z, r | h):  dH̃ = dH_t (1 - Z),  da_h = dH̃ tanh'(H̃),  d(R H_{t-1}) = da_h W_hh^T,
    da_z = dH_t (H_{t-1} - H̃) Z',  da_r = d(R H_{t-1}) H_{t-1} R',
    dH_{t-1} += dH_t Z + d(R H_{t-1}) R + [da_z, da_r] W_hzr^T
LSTM (columns o, i, f, c):  dC_t += dH_t O tanh'(C_t),  da_o = dH_t tanh(C_t) O',
    da_i = dC_t C̃ I',  da_f = dC_t C_{t-1} F',  da_c = dC_t I tanh'(C̃),
    dC_{t-1} = dC_t F,  dH_{t-1} += [da_o, da_i, da_f, da_c] W_h^T
Weight gradients: dW_h = Σ_t H_{t-1}^T da_t (W_hh: (R H_{t-1})^T da_h), dXW = da.
Both forwards take tanh through the sigmoid, tanh(a) = 2σ(2a) - 1 (see engine/bptt.py), on
doubled pre-activations (the LSTM's C̃ columns, so that one sigmoid covers all four gates, and
C_t; the GRU's H̃), and add each step's input terms XW_t after its matmul, not as the matmul's
fused addend: a separate pass streams XW_t in, where oneDNN's fused add waited on memory
(~20 us a step at (32, 1024)).
The matmuls use oneDNN where engine/bptt.py does (float32 CPU, hidden >= 256), with each weight
reordered once per call into oneDNN's blocked layout: a plain weight is reordered again by every
matmul, which made the per-step matmuls ~1.7x slower (measured at 16 x 512 x 2048).
"""
from __future__ import annotations

import torch

from .bptt import _ONEDNN_LINEAR, _ONEDNN_LINEAR_ADD, _matmul, _tanh_from_sigmoid_, _use_onednn

try:  # a private op (inductor's weight prepacking), used only where present
    _ONEDNN_PACK = torch.ops.mkldnn._reorder_linear_weight.default
except (AttributeError, RuntimeError):
    _ONEDNN_PACK = None


def _onednn_weight(W: torch.Tensor, batch: int) -> torch.Tensor:
    """W (in, out) as oneDNN's (out, in) weight, packed for ``batch`` rows where possible."""
    W_t = W.t().contiguous()
    return _ONEDNN_PACK(W_t, batch) if _ONEDNN_PACK is not None else W_t


def _project(W: torch.Tensor, onednn: bool, batch: int):
    """``f(h, add) = add + h @ W`` for W (in, out), as a new tensor."""
    if onednn:
        packed = _onednn_weight(W, batch)
        return lambda h, add: _ONEDNN_LINEAR_ADD(h, add, packed, None, "add")
    return lambda h, add: torch.addmm(add, h, W)


def _times(W: torch.Tensor, onednn: bool, batch: int):
    """``f(x) = x @ W`` for W (in, out)."""
    if onednn:
        packed = _onednn_weight(W, batch)
        return lambda x: _ONEDNN_LINEAR(x, packed, None, "none", [], "")
    return lambda x: x @ W


def _sigmoid_grad(s: torch.Tensor) -> torch.Tensor:
    return s - s * s


def _tanh_grad(t: torch.Tensor) -> torch.Tensor:
    return 1 - t * t


# aten's derivative kernels: g s (1 - s) and g (1 - t^2) in one pass each instead of three;
# overloads named, since resolving them per call costs more than the kernel at (32, 256)
_sigmoid_backward_out = torch.ops.aten.sigmoid_backward.grad_input
_tanh_backward = torch.ops.aten.tanh_backward.default
_tanh_backward_out = torch.ops.aten.tanh_backward.grad_input


class _LSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, XW, h0, c0, W_h):
        steps, batch, _ = XW.shape
        H = h0.shape[-1]
        onednn = _use_onednn(h0)
        # C̃'s columns doubled, so that one sigmoid serves all four gates
        double_c = XW.new_ones(4 * H)
        double_c[3 * H:] = 2
        hidden_terms = _times(W_h * double_c, onednn, batch)
        Hs = XW.new_empty(steps + 1, batch, H)
        Cs = XW.new_empty(steps + 1, batch, H)
        Hs[0], Cs[0] = h0, c0
        # A holds the activations O, I, F, C̃ of every step; views are made once, not per step
        A, tanh_c, f_c = torch.empty_like(XW), XW.new_empty(steps, batch, H), XW.new_empty(batch, H)
        gates = zip(*(g.unbind(0) for g in A.chunk(4, -1)))
        for xw, a_t, (O, I, F_, C_tilde), h_prev, c_prev, c, tc, h in zip(
                XW.unbind(0), A.unbind(0), gates, Hs.unbind(0), Cs.unbind(0), Cs[1:].unbind(0),
                tanh_c.unbind(0), Hs[1:].unbind(0)):
            torch.addcmul(hidden_terms(h_prev), xw, double_c, out=a_t).sigmoid_()
            _tanh_from_sigmoid_(C_tilde)
            torch.addcmul(torch.mul(F_, c_prev, out=f_c), I, C_tilde, out=c)
            _tanh_from_sigmoid_(torch.add(c, c, out=tc).sigmoid_())
            torch.mul(O, tc, out=h)
        ctx.onednn = onednn
        ctx.save_for_backward(A, Hs, Cs, tanh_c, W_h)
        return Hs[1:], Hs[-1].clone(), Cs[-1].clone()

    @staticmethod
    def backward(ctx, dH_all, dh_last, dc_last):
        A, Hs, Cs, tanh_c, W_h = ctx.saved_tensors
        steps, batch, H = tanh_c.shape
        dA = torch.empty_like(A)
        back = _times(W_h.t(), ctx.onednn, batch)
        dh, dc = dH_all[-1] + dh_last, dc_last
        gates, grads = (zip(*(g.unbind(0) for g in X.chunk(4, -1))) for X in (A, dA))
        for t, (O, I, F_, C_tilde), (da_o, da_i, da_f, da_c), tc, c_prev in reversed(list(zip(
                range(steps), gates, grads, tanh_c.unbind(0), Cs.unbind(0)))):
            _sigmoid_backward_out(dh * tc, O, grad_input=da_o)
            dc = torch.addcmul(dc, dh, _tanh_backward(O, tc))
            _sigmoid_backward_out(dc * C_tilde, I, grad_input=da_i)
            _sigmoid_backward_out(dc * c_prev, F_, grad_input=da_f)
            _tanh_backward_out(dc * I, C_tilde, grad_input=da_c)
            dc = dc * F_
            if t:
                dh = torch.add(back(dA[t]), dH_all[t - 1])   # dH_{t-1}: its direct term + dA_t W_h^T
        dh0 = _matmul(dA[0], W_h.t(), ctx.onednn) if ctx.needs_input_grad[1] else None
        dW_h = _matmul(Hs[:-1].reshape(-1, H).t(), dA.reshape(-1, 4 * H), ctx.onednn)
        return dA, dh0, dc, dW_h


def lstm_recurrence(XW, h0, c0, W_h):
    """One LSTM layer over all steps.  XW (steps, batch, 4H): the input terms with biases, gate
    columns in the order O, I, F, C̃; W_h (H, 4H) in the same order.  Returns (H_all (steps,
    batch, H), h_last, c_last)."""
    return _LSTMRecurrence.apply(XW, h0, c0, W_h)


class _GRURecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, XW, h0, W_hzr, W_hh):
        steps, batch, _ = XW.shape
        H = h0.shape[-1]
        onednn = _use_onednn(h0)
        # the candidate's pre-activation doubled, for tanh(a) = 2σ(2a) - 1
        gates, candidate = _times(W_hzr, onednn, batch), _times(2 * W_hh, onednn, batch)
        Hs = XW.new_empty(steps + 1, batch, H)
        Hs[0] = h0
        ZR, H_tilde = XW.new_empty(steps, batch, 2 * H), XW.new_empty(steps, batch, H)
        h = h0
        for t in range(steps):
            zr = torch.add(gates(h), XW[t, :, :2 * H], out=ZR[t]).sigmoid_()
            Z, R = zr.chunk(2, 1)
            h_tilde = _tanh_from_sigmoid_(torch.add(candidate(R * h), XW[t, :, 2 * H:], alpha=2,
                                                    out=H_tilde[t]).sigmoid_())
            h = torch.addcmul(h_tilde, Z, h - h_tilde, out=Hs[t + 1])   # Z ⊙ H_{t-1} + (1 - Z) ⊙ H̃
        ctx.onednn = onednn
        ctx.save_for_backward(ZR, H_tilde, Hs, W_hzr, W_hh)
        return Hs[1:], Hs[-1].clone()

    @staticmethod
    def backward(ctx, dH_all, dh_last):
        ZR, H_tilde, Hs, W_hzr, W_hh = ctx.saved_tensors
        steps, batch, H = H_tilde.shape
        Z, R = ZR.chunk(2, -1)
        H_prev = Hs[:-1]
        Pz = (H_prev - H_tilde) * _sigmoid_grad(Z)
        Ph = (1 - Z) * _tanh_grad(H_tilde)
        Pr = H_prev * _sigmoid_grad(R)
        dA_zr, dA_h = torch.empty_like(ZR), torch.empty_like(H_tilde)
        dh_next = dh_last if dh_last is not None else torch.zeros_like(Hs[0])
        back_zr, back_h = _project(W_hzr.t(), ctx.onednn, batch), _times(W_hh.t(), ctx.onednn, batch)
        for t in range(steps - 1, -1, -1):
            dh = dH_all[t] + dh_next
            torch.mul(dh, Ph[t], out=dA_h[t])
            d_rh = back_h(dA_h[t])       # d(R ⊙ H_{t-1})
            torch.mul(dh, Pz[t], out=dA_zr[t, :, :H])
            torch.mul(d_rh, Pr[t], out=dA_zr[t, :, H:])
            dh_next = back_zr(dA_zr[t], torch.addcmul(dh * Z[t], d_rh, R[t]))
        dW_hzr = _matmul(H_prev.reshape(-1, H).t(), dA_zr.reshape(-1, 2 * H), ctx.onednn)
        dW_hh = _matmul((R * H_prev).reshape(-1, H).t(), dA_h.reshape(-1, H), ctx.onednn)
        return torch.cat([dA_zr, dA_h], -1), dh_next, dW_hzr, dW_hh


def gru_recurrence(XW, h0, W_hzr, W_hh):
    """One GRU layer over all steps.  XW (steps, batch, 3H): the input terms with biases, gate
    columns Z, R, H̃; W_hzr (H, 2H) = [W_hz, W_hr], W_hh (H, H).  Returns (H_all, h_last)."""
    return _GRURecurrence.apply(XW, h0, W_hzr, W_hh)
