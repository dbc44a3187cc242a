"""The GRU and LSTM recurrences with hand-derived backpropagation through time (the gated
cells' counterpart of engine/bptt.py; d2l 10.1-10.2).

Both take the input terms of all gates and steps at once, XW (steps, batch, gates*H), biases
included, and the hidden weights of all gates side by side, so a forward step is one or two
matmuls and a backward step the same number.  Everything that is not sequential (the gates'
local derivatives, the weight gradients) is computed for all steps at once before or after the
loop.  With a = pre-activation and s' = s (1 - s), tanh' = 1 - tanh^2:

GRU (columns z, r | h):  dH̃ = dH_t (1 - Z),  da_h = dH̃ tanh'(H̃),  d(R H_{t-1}) = da_h W_hh^T,
    da_z = dH_t (H_{t-1} - H̃) Z',  da_r = d(R H_{t-1}) H_{t-1} R',
    dH_{t-1} += dH_t Z + d(R H_{t-1}) R + [da_z, da_r] W_hzr^T
LSTM (columns o, i, f, c):  dC_t += dH_t O tanh'(C_t),  da_o = dH_t tanh(C_t) O',
    da_i = dC_t C̃ I',  da_f = dC_t C_{t-1} F',  da_c = dC_t I tanh'(C̃),
    dC_{t-1} = dC_t F,  dH_{t-1} += [da_o, da_i, da_f, da_c] W_h^T
Weight gradients: dW_h = Σ_t H_{t-1}^T da_t (W_hh: (R H_{t-1})^T da_h), dXW = da.
The matmuls use oneDNN where engine/bptt.py does (float32 CPU, hidden >= 256), with each weight
reordered once per call into oneDNN's blocked layout: a plain weight is reordered again by every
matmul, which made the per-step matmuls ~1.7x slower (measured at 16 x 512 x 2048).
"""
from __future__ import annotations

import torch

from .bptt import _ONEDNN_LINEAR, _ONEDNN_LINEAR_ADD, _matmul, _use_onednn

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


class _LSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, XW, h0, c0, W_h):
        steps, batch, _ = XW.shape
        H = h0.shape[-1]
        onednn = _use_onednn(h0)
        project = _project(W_h, onednn, batch)
        Hs = XW.new_empty(steps + 1, batch, H)
        Cs = XW.new_empty(steps + 1, batch, H)
        Hs[0], Cs[0] = h0, c0
        acts, tanh_c = [], XW.new_empty(steps, batch, H)
        h, c = h0, c0
        for t in range(steps):
            a = project(h, XW[t])
            a[:, :3 * H].sigmoid_()      # O, I, F
            a[:, 3 * H:].tanh_()         # C̃
            O, I, F_, C_tilde = a.chunk(4, 1)
            c = torch.addcmul(F_ * c, I, C_tilde, out=Cs[t + 1])
            h = torch.mul(O, torch.tanh(c, out=tanh_c[t]), out=Hs[t + 1])
            acts.append(a)
        ctx.onednn = onednn
        ctx.save_for_backward(torch.stack(acts), Hs, Cs, tanh_c, W_h)
        return Hs[1:], Hs[-1].clone(), Cs[-1].clone()

    @staticmethod
    def backward(ctx, dH_all, dh_last, dc_last):
        A, Hs, Cs, tanh_c, W_h = ctx.saved_tensors
        steps, batch, H = tanh_c.shape
        O, I, F_, C_tilde = A.chunk(4, -1)
        # the local derivatives of every gate, for all steps at once
        P = torch.empty_like(A)
        for out, value, gate_grad in zip(P.chunk(4, -1), (tanh_c, C_tilde, Cs[:-1], I),
                                         (_sigmoid_grad(O), _sigmoid_grad(I), _sigmoid_grad(F_),
                                          _tanh_grad(C_tilde))):
            torch.mul(value, gate_grad, out=out)
        OT = O * _tanh_grad(tanh_c)
        dA = torch.empty_like(A)
        back = _times(W_h.t(), ctx.onednn, batch)
        dh_next = dh_last if dh_last is not None else torch.zeros_like(Hs[0])
        dc = dc_last if dc_last is not None else torch.zeros_like(Cs[0])
        for t in range(steps - 1, -1, -1):
            dh = dH_all[t] + dh_next
            torch.mul(dh, P[t, :, :H], out=dA[t, :, :H])
            dc = torch.addcmul(dc, dh, OT[t])
            torch.mul(P[t, :, H:].view(batch, 3, H), dc.unsqueeze(1), out=dA[t, :, H:].view(batch, 3, H))
            dc = dc * F_[t]
            dh_next = back(dA[t])
        dW_h = _matmul(Hs[:-1].reshape(-1, H).t(), dA.reshape(-1, 4 * H), ctx.onednn)
        return dA, dh_next, dc, dW_h


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
        gates, candidate = _project(W_hzr, onednn, batch), _project(W_hh, onednn, batch)
        Hs = XW.new_empty(steps + 1, batch, H)
        Hs[0] = h0
        ZR, H_tilde = XW.new_empty(steps, batch, 2 * H), XW.new_empty(steps, batch, H)
        XW_zr, XW_h = XW[..., :2 * H].contiguous(), XW[..., 2 * H:].contiguous()
        h = h0
        for t in range(steps):
            zr = torch.sigmoid(gates(h, XW_zr[t]), out=ZR[t])
            Z, R = zr.chunk(2, 1)
            h_tilde = torch.tanh(candidate(R * h, XW_h[t]), out=H_tilde[t])
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
