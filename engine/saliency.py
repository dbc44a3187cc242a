"""Saliency: which earlier inputs a prediction leans on, by a backward pass derived by hand.

For position t of a text, the saliency of input s <= t is ``||∂ log p(x_{t+1}) / ∂e_s||``, e_s the
vector the first layer reads at s (the one-hot row, or the embedding row of W_e).  Everything the
backward pass needs is already in a :class:`engine.inspect.Reading` (every gate and state of every
step), so no forward pass is run again.  With a_s = X_s W_x· + b_· the input terms of a layer
(all gates side by side, engine.unroll.GATES' order) and ``d`` meaning ∂ log p(x_{t+1}) / ∂:

    output:  dO_t = onehot(x_{t+1}) - softmax(O_t),   dH^L_t = dO_t W_hq^T   (top layer, step t only)
    RNN:     dA_s = dH_s ⊙ (1 - H_s²),   dH_{s-1} += dA_s W_hh^T
    GRU:     dA_h = dH_s ⊙ (1 - Z_s) ⊙ (1 - H̃_s²),   U = dA_h W_hh^T,
             dA_z = dH_s ⊙ (H_{s-1} - H̃_s) ⊙ Z_s(1 - Z_s),   dA_r = U ⊙ H_{s-1} ⊙ R_s(1 - R_s),
             dH_{s-1} += dH_s ⊙ Z_s + U ⊙ R_s + [dA_z, dA_r] [W_hz, W_hr]^T
    LSTM:    dC_s = dC_{s+1} ⊙ F_{s+1} + dH_s ⊙ O_s ⊙ (1 - tanh²C_s),
             dA_i = dC_s ⊙ C̃_s ⊙ I_s(1 - I_s),   dA_f = dC_s ⊙ C_{s-1} ⊙ F_s(1 - F_s),
             dA_o = dH_s ⊙ tanh C_s ⊙ O_s(1 - O_s),   dA_c = dC_s ⊙ I_s ⊙ (1 - C̃_s²),
             dH_{s-1} += dA_s W_h^T
    layers:  dH^{l-1}_s += dA^l_s W_x^{l T};   at the first layer ∂/∂e_s = dA_s W_x^T.

The factors that do not depend on d (e.g. C̃ ⊙ I(1 - I)) are computed for all steps at once, so
each step of the loop is a matvec and a few elementwise products.
"""
from __future__ import annotations

import torch

from .errors import ConfigError
from .inspect import read_text
from .unroll import GATES, cell_of, layer_weights


def input_gradient_norms(grad_terms: torch.Tensor, W_x: torch.Tensor, *, gram: bool | None = None) -> torch.Tensor:
    """``||g_s W_x^T||`` for every row g_s of ``grad_terms`` (S, gates*H), with W_x (D, gates*H):
    the norm of ∂/∂e_s when a_s = e_s W_x + b and g_s = ∂/∂a_s.

    Directly, S x D numbers (D = V for one-hot inputs, up to 30,000 words) in row blocks; or
    through the Gram matrix, ``||g W_x^T||² = g (W_x^T W_x) g^T`` (in float64), which never makes
    an S x D matrix and costs D (gates*H)² once: chosen (``gram`` None) when that is the fewer
    operations."""
    rows, width = grad_terms.shape
    depth = W_x.shape[0]
    if gram is None:
        gram = rows * depth > width * (depth + rows)
    if gram:
        W, g = W_x.double(), grad_terms.double()
        return ((g @ (W.t() @ W)) * g).sum(1).clamp_min(0).sqrt().to(grad_terms.dtype)
    block = max(1, (1 << 22) // max(depth, 1))  # about 16 MB of float32 at a time
    return torch.cat([(grad_terms[i:i + block] @ W_x.t()).norm(dim=1) for i in range(0, rows, block)])


def _shifted(values: torch.Tensor) -> torch.Tensor:
    """Row s holds row s-1 of ``values`` (row 0: zeros, the begin state's)."""
    return torch.cat([values.new_zeros(1, values.shape[1]), values[:-1]])


def _layer_backward(cell: str, acts: dict[str, torch.Tensor], W_h: torch.Tensor,
                    dH_in: torch.Tensor) -> torch.Tensor:
    """dA_s (S, gates*H) of one layer over steps 0..S-1, given the layer's recorded quantities
    ``acts`` (q -> (S, H)) and dH_in (S, H), the gradient reaching each H_s from outside the
    recurrence (the output, or the layer above)."""
    steps, H = dH_in.shape
    dA = dH_in.new_zeros(steps, len(GATES[cell]) * H)
    W_hT = W_h.t()
    dA_rows, dH_rows = dA[:, None].unbind(0), dH_in[:, None].unbind(0)  # (1, width) views, step by step

    def dH(s):  # dH_s: from outside the recurrence, and from step s+1 through W_h
        return dH_rows[s] if s + 1 == steps else torch.addmm(dH_rows[s], dA_rows[s + 1], W_hT)

    if cell == "rnn":
        factor = (1 - acts["h"] ** 2).unbind(0)
        for s in range(steps - 1, -1, -1):
            torch.mul(dH(s), factor[s], out=dA_rows[s])
        return dA
    if cell == "gru":
        z, r, h_tilde = acts["z"], acts["r"], acts["h_tilde"]
        h_prev = _shifted(acts["h"])
        q_h, q_z, q_r = ((1 - z) * (1 - h_tilde ** 2)).unbind(0), ((h_prev - h_tilde) * z * (1 - z)).unbind(0), \
            (h_prev * r * (1 - r)).unbind(0)
        z, r = z.unbind(0), r.unbind(0)
        W_hzrT, W_hhT = W_hT[:2 * H], W_hT[2 * H:]
        carry = dH_in.new_zeros(1, H)  # what reaches H_s from step s+1
        for s in range(steps - 1, -1, -1):
            dh = dH_rows[s] + carry
            dA_h = dh * q_h[s]
            u = dA_h @ W_hhT
            dA_zr = torch.cat([dh * q_z[s], u * q_r[s]], 1)
            torch.cat([dA_zr, dA_h], 1, out=dA_rows[s])
            carry = torch.addmm(torch.addcmul(dh * z[s], u, r[s]), dA_zr, W_hzrT)
        return dA
    i, f, o, c_tilde, c = (acts[q] for q in ("i", "f", "o", "c_tilde", "c"))
    tanh_c = torch.tanh(c)
    to_c = (o * (1 - tanh_c ** 2)).unbind(0)  # dC_s gets dH_s ⊙ this
    f_next = torch.cat([f[1:], f.new_zeros(1, H)]).unbind(0)  # dC_s gets dC_{s+1} ⊙ F_{s+1}
    factors = torch.cat([c_tilde * i * (1 - i), _shifted(c) * f * (1 - f), tanh_c * o * (1 - o),
                         i * (1 - c_tilde ** 2)], 1).view(steps, 4, H).unbind(0)  # times [dC, dC, dH, dC]
    dA_gates = dA.view(steps, 4, H).unbind(0)
    dc = dH_in.new_zeros(1, H)
    for s in range(steps - 1, -1, -1):
        dh = dH(s)
        dc = torch.addcmul(dc * f_next[s], dh, to_c[s])
        torch.mul(torch.cat([dc, dc, dh, dc]), factors[s], out=dA_gates[s])
    return dA


def saliency_of(model, reading, t: int) -> torch.Tensor:
    """Saliency (t+1,) of every input s <= t for the prediction of token t+1, from a
    :class:`engine.inspect.Reading` of the text by this ``model`` (the same weights)."""
    T = len(reading.tokens)
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < T - 1:
        raise ConfigError(f"position {t!r}: saliency needs a next token; use 0 to {T - 2} for this "
                          f"{T}-token text" if T > 1 else "saliency needs a text of at least two tokens")
    cell = cell_of(model)
    steps = t + 1
    with torch.no_grad():
        top = reading.acts[f"l{model.num_layers}.h"][t].to(model.W_hq.device)
        d_out = -torch.softmax(top @ model.W_hq + model.b_q, -1)
        d_out[int(reading.indices[t + 1])] += 1
        dH_in = top.new_zeros(steps, model.num_hiddens)
        dH_in[t] = model.W_hq @ d_out
        for layer in range(model.num_layers, 0, -1):
            acts = {key.split(".", 1)[1]: value[:steps].to(top.device) for key, value in reading.acts.items()
                    if key.startswith(f"l{layer}.")}
            W_x, W_h, _ = layer_weights(model, cell, layer - 1)
            dA = _layer_backward(cell, acts, W_h, dH_in)
            dH_in = dA @ W_x.t() if layer > 1 else None
        return input_gradient_norms(dA, W_x).cpu()


def saliency(model, vocab, text: str, t: int) -> torch.Tensor:
    """``||∂ log p(x_{t+1} | x_0..x_t) / ∂e_s||`` for s = 0..t, shape (t+1,): how much each input up
    to position t moves the probability the model gives the text's token t+1."""
    return saliency_of(model, read_text(model, vocab, text, k=1), t)
