"""The GRU and LSTM recurrences with hand-derived backpropagation through time (the gated
cells' counterpart of engine/bptt.py; d2l 10.1-10.2).

Both take the input terms of all gates and steps at once, XW (steps, batch, gates*H), biases
included, and the hidden weights of all gates side by side, so a forward step is one or two
matmuls and a backward step the same number.  The weight gradients are sums over time, one
matmul after the loop; the gates' local derivatives are taken inside the loop, step by step,
where they stay in cache (at hidden 256 the per-step work is tens of small ops, so their count
and memory traffic, not the arithmetic, set the speed).  With a = pre-activation and s' = s (1 - s), tanh' = 1 - tanh^2:

GRU (columns z, r | h):  dH̃ = dH_t (1 - Z),  da_h = dH̃ tanh'(H̃),  d(R H_{t-1}) = da_h W_hh^T,
    da_z = dH_t (H_{t-1} - H̃) Z',  da_r = d(R H_{t-1}) H_{t-1} R',
    dH_{t-1} += dH_t Z + d(R H_{t-1}) R + [da_z, da_r] W_hzr^T
LSTM (columns o, i, f, c):  dC_t += dH_t O tanh'(C_t),  da_o = dH_t tanh(C_t) O',
    da_i = dC_t C̃ I',  da_f = dC_t C_{t-1} F',  da_c = dC_t I tanh'(C̃),
    dC_{t-1} = dC_t F,  dH_{t-1} += [da_o, da_i, da_f, da_c] W_h^T
Weight gradients: dW_h = Σ_t H_{t-1}^T da_t (W_hh: (R H_{t-1})^T da_h), dXW = da.
The products and activations go through engine/kernels: the weights are prepared once per call
for the many (batch, H) products of the loop, and the pre-activations that meet tanh are scaled
by the backend's ``tanh_scale`` (folded into the weights and the input terms' addition), so a
backend may take tanh through the sigmoid at no extra cost per step.
"""
from __future__ import annotations

import torch

from . import kernels


class _LSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, XW, h0, c0, W_h):
        steps, batch, _ = XW.shape
        H = h0.shape[-1]
        ctx.kernels = K = kernels.for_tensor(h0)
        scale = XW.new_ones(4 * H)  # C̃'s pre-activation scaled for the backend's tanh
        scale[3 * H:] = K.tanh_scale
        hidden_terms = K.product(W_h * scale, batch, steps)
        Hs = XW.new_empty(steps + 1, batch, H)
        Cs = XW.new_empty(steps + 1, batch, H)
        Hs[0], Cs[0] = h0, c0
        # A holds the activations O, I, F, C̃ of every step; every step's views are made once, before
        # the loop (a step is a few microseconds of work per op: slicing inside the loop would show)
        A, tanh_c = torch.empty_like(XW), XW.new_empty(steps, batch, H)
        O, I, F_, C_tilde = (g.unbind(0) for g in A.chunk(4, -1))
        for xw, a, o, i, f, c_tilde, h_prev, c_prev, c, tc, h in zip(
                XW.unbind(0), A.unbind(0), O, I, F_, C_tilde, Hs.unbind(0), Cs.unbind(0), Cs[1:].unbind(0),
                tanh_c.unbind(0), Hs[1:].unbind(0)):
            K.gates_(torch.addcmul(hidden_terms(h_prev), xw, scale, out=a), c_tilde)
            torch.mul(f, c_prev, out=c).addcmul_(i, c_tilde)                   # F ⊙ C_{t-1} + I ⊙ C̃
            torch.mul(o, K.tanh(c, out=tc), out=h)                            # O ⊙ tanh(C_t)
        ctx.save_for_backward(A, Hs, Cs, tanh_c, W_h)
        return Hs[1:], Hs[-1].clone(), Cs[-1].clone()

    @staticmethod
    def backward(ctx, dH_all, dh_last, dc_last):
        A, Hs, Cs, tanh_c, W_h = ctx.saved_tensors
        K = ctx.kernels
        steps, batch, H = tanh_c.shape
        dA = torch.empty_like(A)
        back = K.product(W_h.t(), batch, steps - 1)
        G = A.new_empty(batch, 3 * H)  # what reaches O, I, F from above their sigmoids
        G_o, G_i, G_f = G.chunk(3, -1)
        through_o, dc_i = A.new_empty(batch, H), A.new_empty(batch, H)
        O, I, F_, C_tilde = (g.unbind(0) for g in A.chunk(4, -1))
        direct = [None, *dH_all.unbind(0)[:-1]]  # what reaches H_{t-1} from its own output
        steps_back = reversed(list(zip(O, I, F_, C_tilde, A[..., :3 * H].unbind(0), dA.unbind(0),
                                       dA[..., :3 * H].unbind(0), dA[..., 3 * H:].unbind(0), tanh_c.unbind(0),
                                       Cs.unbind(0), direct)))
        dh, dc = dH_all[-1] + dh_last, dc_last.clone()
        for o, i, f, c_tilde, sigmoids, da, da_oif, da_c, tc, c_prev, dh_direct in steps_back:
            torch.mul(dh, tc, out=G_o)
            dc.addcmul_(dh, K.tanh_backward(o, tc, out=through_o))           # dC_t += dH_t O tanh'(C_t)
            torch.mul(dc, c_tilde, out=G_i)
            torch.mul(dc, c_prev, out=G_f)
            K.sigmoid_backward(G, sigmoids, out=da_oif)
            K.tanh_backward(torch.mul(dc, i, out=dc_i), c_tilde, out=da_c)
            dc.mul_(f)                                                         # dC_{t-1}
            if dh_direct is not None:
                dh = back(da).add_(dh_direct)                                  # dH_{t-1}: dA_t W_h^T + its direct term
        dh0 = K.matmul(dA[0], W_h.t()) if ctx.needs_input_grad[1] else None
        dW_h = K.matmul(Hs[:-1].reshape(-1, H).t(), dA.reshape(-1, 4 * H))
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
        ctx.kernels = K = kernels.for_tensor(h0)
        s = K.tanh_scale  # the candidate's pre-activation scaled for the backend's tanh
        gates, candidate = K.product(W_hzr, batch, steps), K.product(W_hh * s, batch, steps)
        Hs = XW.new_empty(steps + 1, batch, H)
        Hs[0] = h0
        ZR, H_tilde, RH = XW.new_empty(steps, batch, 2 * H), XW.new_empty(steps, batch, H), XW.new_empty(steps, batch, H)
        Zs, Rs = (g.unbind(0) for g in ZR.chunk(2, -1))  # every step's views made once, before the loop
        h = h0
        for xw_zr, xw_h, zr, z, r, h_tilde, rh, h_next in zip(
                XW[..., :2 * H].unbind(0), XW[..., 2 * H:].unbind(0), ZR.unbind(0), Zs, Rs, H_tilde.unbind(0),
                RH.unbind(0), Hs[1:].unbind(0)):
            torch.add(gates(h), xw_zr, out=zr).sigmoid_()
            K.gates_(torch.add(candidate(torch.mul(r, h, out=rh)), xw_h, alpha=s, out=h_tilde))
            h = torch.lerp(h_tilde, h, z, out=h_next)                  # Z ⊙ H_{t-1} + (1 - Z) ⊙ H̃
        ctx.save_for_backward(ZR, H_tilde, RH, Hs, W_hzr, W_hh)
        return Hs[1:], Hs[-1].clone()

    @staticmethod
    def backward(ctx, dH_all, dh_last):
        ZR, H_tilde, RH, Hs, W_hzr, W_hh = ctx.saved_tensors
        K = ctx.kernels
        steps, batch, H = H_tilde.shape
        dA_zr, dA_h = torch.empty_like(ZR), torch.empty_like(H_tilde)
        back_zr, back_h = K.product(W_hzr.t(), batch, steps), K.product(W_hh.t(), batch, steps)
        G = ZR.new_empty(batch, 2 * H)  # what reaches Z and R from above their sigmoids
        G_z, G_r = G.chunk(2, -1)
        through_z, to_candidate, change = (ZR.new_empty(batch, H) for _ in range(3))
        Zs, Rs = (g.unbind(0) for g in ZR.chunk(2, -1))
        direct = [None, *dH_all.unbind(0)[:-1]]  # what reaches H_{t-1} from its own output
        steps_back = reversed(list(zip(ZR.unbind(0), Zs, Rs, H_tilde.unbind(0), Hs.unbind(0), dA_zr.unbind(0),
                                       dA_h.unbind(0), direct)))
        dh = dH_all[-1] + dh_last
        for zr, z, r, h_tilde, h_prev, da_zr, da_h, dh_direct in steps_back:
            dh_z = torch.mul(dh, z, out=through_z)
            K.tanh_backward(torch.sub(dh, dh_z, out=to_candidate), h_tilde, out=da_h)  # dH̃ = dH_t (1 - Z)
            d_rh = back_h(da_h)                                         # d(R ⊙ H_{t-1})
            torch.mul(dh, torch.sub(h_prev, h_tilde, out=change), out=G_z)
            torch.mul(d_rh, h_prev, out=G_r)
            K.sigmoid_backward(G, zr, out=da_zr)
            if dh_direct is not None or ctx.needs_input_grad[1]:       # dH_{t-1}
                dh = back_zr(da_zr).add_(dh_z.addcmul_(d_rh, r))
                if dh_direct is not None:
                    dh.add_(dh_direct)
        dW_hzr = K.matmul(Hs[:-1].reshape(-1, H).t(), dA_zr.reshape(-1, 2 * H))
        dW_hh = K.matmul(RH.reshape(-1, H).t(), dA_h.reshape(-1, H))
        dh0 = dh if ctx.needs_input_grad[1] else None
        return torch.cat([dA_zr, dA_h], -1), dh0, dW_hzr, dW_hh


def gru_recurrence(XW, h0, W_hzr, W_hh):
    """One GRU layer over all steps.  XW (steps, batch, 3H): the input terms with biases, gate
    columns Z, R, H̃; W_hzr (H, 2H) = [W_hz, W_hr], W_hh (H, H).  Returns (H_all, h_last)."""
    return _GRURecurrence.apply(XW, h0, W_hzr, W_hh)
