"""Gated recurrent units and long short-term memory from scratch (d2l 10.1-10.3), stacked.

    GRU:   Z_t = σ(X_t W_xz + H_{t-1} W_hz + b_z)      R_t = σ(X_t W_xr + H_{t-1} W_hr + b_r)
           H̃_t = tanh(X_t W_xh + (R_t ⊙ H_{t-1}) W_hh + b_h)      H_t = Z_t ⊙ H_{t-1} + (1 - Z_t) ⊙ H̃_t
    LSTM:  I_t, F_t, O_t = σ(X_t W_x· + H_{t-1} W_h· + b_·)         C̃_t = tanh(X_t W_xc + H_{t-1} W_hc + b_c)
           C_t = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t                         H_t = O_t ⊙ tanh(C_t)

Each layer keeps the book's parameter names (layer 1 bare, layer l >= 2 suffixed ``_l<l>``, e.g.
``W_xz_l2``); the output layer is ``W_hq, b_q``.  The fast path concatenates the gates' weights
once per forward: the input terms of every gate and step are one gather (first layer: a one-hot
row of the (V, gates*H) weight) or one matmul (deeper layers), and each step is one
(B, H) x (H, gates*H) matmul for the hidden terms, except the GRU's candidate, whose hidden
matmul needs R_t ⊙ H_{t-1} first.  Training runs the recurrences of engine/gated_bptt.py (hand-derived
backward); a plain-autograd loop of the same equations serves the gradient-flow readout.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import kernels
from .bptt import linear
from .gated_bptt import gru_recurrence, lstm_recurrence
from .layers import init_stack, join_layers, layer_suffix, split_layers, zero_state


class _StackedScratch(nn.Module):
    """What GRUScratch and LSTMScratch share: the per-layer parameters named after the book,
    dropout between layers and before the output layer (training only), the output layer, and
    the state layout: (batch, H) for one layer, (layers, batch, H) for several."""

    GATES: tuple[str, ...] = ()   # gate letters, in the book's (registration) order
    FUSED: tuple[str, ...] = ()   # ... in the order of the concatenated weights

    def __init__(self, vocab_size: int, num_hiddens: int, *, num_layers: int = 1, dropout: float = 0.0,
                 embed_size: int = 0, device=None, generator: torch.Generator | None = None):
        super().__init__()
        # torch.nn.LSTM's initialisation, U(+-1/sqrt(H)), not the book's N(0, 0.01^2): the gates open and
        # close from the first steps (held-out perplexity 3.83 against 3.92 after 10 epochs, README)
        init_stack(self, self.GATES, vocab_size, num_hiddens, num_layers=num_layers, dropout=dropout,
                   device=device, generator=generator, embed_size=embed_size, uniform=True)

    @property
    def params(self) -> list[nn.Parameter]:
        """Every parameter in registration order: layer by layer, then ``W_hq, b_q``."""
        return list(self.parameters())

    def layer_params(self, layer: int, kind: str) -> list[nn.Parameter]:
        """``kind`` "W_x", "W_h" or "b_" of every gate of ``layer``, in FUSED order."""
        suffix = layer_suffix(layer)
        return [getattr(self, f"{kind}{g}{suffix}") for g in self.FUSED]

    # ------------------------------------------------------------ state ----
    def _zeros(self, batch_size: int) -> torch.Tensor:
        return zero_state(self.W_hq, self.num_layers, batch_size, self.num_hiddens)

    # ---------------------------------------------------------- forward ----
    def _input_terms(self, layer: int, inputs: torch.Tensor) -> torch.Tensor:
        """X_t W_x· + b_· of every gate and step, time-major (steps, batch, gates*H); ``inputs`` are
        token ids (batch, steps) for the first layer, the layer below's states (steps, batch, H) after."""
        W_x = torch.cat(self.layer_params(layer, "W_x"), 1)
        b = torch.cat(self.layer_params(layer, "b_"))
        if layer == 0 and not self.embed_size:
            # the one-hot x_t times W_x, plus b, is the row x_t selects of W_x + b: a gather (embedding's
            # backward is far cheaper than indexing's); b joins V rows, not steps x batch of them
            return F.embedding(inputs.t(), W_x + b)
        if layer == 0:  # the embedding of x_t, W_e's row, with dropout as between layers
            inputs = F.dropout(F.embedding(inputs.t(), self.W_e), self.dropout, self.training)
        steps, batch, H = inputs.shape
        return torch.addmm(b, inputs.reshape(-1, H), W_x).view(steps, batch, -1)

    def _top_states(self, X: torch.Tensor, state, probe=None):
        """The last layer's states, time-major (steps, batch, H), and the new state.  With a
        ``probe`` (steps, batch, H) the plain-autograd loop runs and adds probe_t to the top
        layer's H_t before it is used, so that d loss / d probe_t = dL/dH_t."""
        per_layer = self._split_state(state)
        inputs, finals = X, []
        for layer in range(self.num_layers):
            if layer > 0:
                inputs = F.dropout(inputs, self.dropout, self.training)
            XW = self._input_terms(layer, inputs)
            if probe is None:
                inputs, final = self._layer_fast(layer, XW, per_layer[layer])
            else:
                hs, final = self._layer_states(layer, XW, per_layer[layer],
                                               probe if layer == self.num_layers - 1 else None)
                inputs = torch.stack(hs)
            finals.append(final)
        return inputs, self._join_state(finals)

    def _output(self, H: torch.Tensor) -> torch.Tensor:
        """Logits (batch, steps, V) from time-major states (steps, batch, H)."""
        H = F.dropout(H, self.dropout, self.training)
        steps, batch, hidden = H.shape
        return linear(H.reshape(-1, hidden), self.W_hq, self.b_q).view(steps, batch, -1).transpose(0, 1)

    def forward(self, X: torch.Tensor, state):
        if X.shape[1] == 0:
            return self.W_hq.new_zeros(X.shape[0], 0, self.vocab_size), state
        H_all, state = self._top_states(X, state)
        return self._output(H_all), state

    def flow_states(self, X: torch.Tensor, state, probe: torch.Tensor) -> torch.Tensor:
        """Logits of the last step, with ``probe`` (steps, batch, H) added to the top layer's H_t
        (see metrics.gradient_flow); dropout is off as in evaluation."""
        was_training = self.training
        self.eval()
        try:
            H_all, _ = self._top_states(X, state, probe)
            return linear(H_all[-1], self.W_hq, self.b_q)
        finally:
            self.train(was_training)

    def stepper(self, logit_bias: torch.Tensor | None = None):
        """``step(index, state) -> (logits (1, V), state)`` for one token at batch 1, outside autograd
        (generation's stepper; see RNNScratch.stepper for the RNN's).

        The weights are joined once, so that each layer makes one product a token with its new
        state: H_t^l [W_h^l | W_x^{l+1}] gives the next token's hidden terms and the input terms of
        the layer above (the top layer's: [W_h | W_hq], the next hidden terms and the logits).  The
        first layer's input term x_t W_x + b is a row, gathered by token id, of W_x + b (with an
        embedding, W_e W_x + b: dropout is off).  The columns that meet tanh are scaled by the
        kernels' ``tanh_scale`` (engine/kernels).  The hidden terms are kept for the state this
        stepper returned; any other state (a fresh one, one from a forward pass) costs one more
        product a layer.  Its logits and state live in two sets of buffers used in turn: read them
        before the step after next (generation does)."""
        H, L = self.num_hiddens, self.num_layers
        K = kernels.for_tensor(self.W_hq)
        s = K.tanh_scale  # the last gate's columns meet tanh (the LSTM's C̃, the GRU's H̃): scaled by s
        with torch.no_grad():
            scale = self.W_hq.new_ones(len(self.FUSED) * H)
            scale[-H:] = s
            W_x, b = (torch.cat(self.layer_params(0, kind), int(kind == "W_x")) for kind in ("W_x", "b_"))
            rows = (((self.W_e @ W_x if self.embed_size else W_x) + b) * scale).unbind(0)
            products = []  # per layer: [W_h | the layer above's W_x, or W_hq] and its bias, written once
            for layer in range(L):
                own = self._step_hidden_weights(layer, s)  # (block, factor) pairs
                if layer + 1 < L:
                    factors = [1.0] * (len(self.FUSED) - 1) + [s]
                    above = list(zip(self.layer_params(layer + 1, "W_x"), factors))
                    above_b = torch.cat(self.layer_params(layer + 1, "b_")) * scale
                else:
                    above = [(self.W_hq, 1.0)]
                    above_b = self.b_q if logit_bias is None else self.b_q + logit_bias
                widths = [block.shape[1] for block, _ in own + above]
                W = self.W_hq.new_empty(H, sum(widths))
                for (block, factor), part in zip(own + above, W.split(widths, 1)):
                    torch.mul(block, factor, out=part)
                width = sum(widths[:len(own)])  # the hidden terms' columns, the same in every layer
                products.append((W, torch.cat([above_b.new_zeros(width), above_b])))
            cell = self._step_cell(K)
        outs = [[W.new_empty(1, W.shape[1]) for W, _ in products] for _ in range(2)]
        states = [self.begin_state(1) for _ in range(2)]
        per_layer = [self._split_state(state) for state in states]
        turn = [0, None]  # the buffer set this step writes, and the state the last step returned

        def step(index: int, state):
            k, last = turn
            if state is last:
                before = per_layer[1 - k]
            else:  # the hidden terms of a state this stepper did not make
                before = self._split_state(state)
                for (W, b), out, layer_state in zip(products, outs[1 - k], before):
                    h = layer_state[0] if isinstance(layer_state, tuple) else layer_state
                    torch.addmm(b, h, W, out=out)
            x = rows[index]
            for layer, ((W, b), hidden, out) in enumerate(zip(products, outs[1 - k], outs[k])):
                h = cell(layer, hidden[:, :width], x, before[layer], per_layer[k][layer])
                x = torch.addmm(b, h, W, out=out)[0, width:]
            turn[:] = 1 - k, states[k]
            return outs[k][-1][:, width:], states[k]
        return step


class GRUScratch(_StackedScratch):
    """The book's GRU (d2l 10.2).  Its candidate state resets H_{t-1} *before* the hidden matmul,
    (R_t ⊙ H_{t-1}) W_hh; torch.nn.GRU applies R_t after it, R_t ⊙ (H_{t-1} W_hh + b_hn): a
    different function of the same weights (tests/test_gated.py shows where they differ)."""

    GATES = FUSED = ("z", "r", "h")

    def begin_state(self, batch_size: int) -> torch.Tensor:
        return self._zeros(batch_size)

    def _split_state(self, state):
        return split_layers(state, self.num_layers)

    def _join_state(self, finals):
        return join_layers(finals)

    def _hidden_weights(self, layer):
        W_hz, W_hr, W_hh = self.layer_params(layer, "W_h")
        return torch.cat([W_hz, W_hr], 1), W_hh                      # Z and R in one matmul

    def _layer_fast(self, layer, XW, h):
        return gru_recurrence(XW, h, *self._hidden_weights(layer))

    def _step_hidden_weights(self, layer, s):
        W_hz, W_hr, _ = self.layer_params(layer, "W_h")
        return [(W_hz, 1.0), (W_hr, 1.0)]                            # H_{t-1}'s product: Z and R

    def _step_cell(self, K):
        """The GRU's step at batch 1 (see _StackedScratch.stepper): ``cell(layer, hidden, x, h,
        out)`` with ``hidden`` = H_{t-1} [W_hz, W_hr], ``x`` the input terms of the three gates."""
        H = self.num_hiddens
        candidates = [W_hh * K.tanh_scale for _, W_hh in map(self._hidden_weights, range(self.num_layers))]
        zr, rh, h_tilde = self.W_hq.new_empty(1, 2 * H), self.W_hq.new_empty(1, H), self.W_hq.new_empty(1, H)
        Z, R = zr[:, :H], zr[:, H:]

        def cell(layer, hidden, x, h, out):
            torch.add(hidden, x[:2 * H], out=zr).sigmoid_()
            torch.addmm(x[2 * H:], torch.mul(R, h, out=rh), candidates[layer], out=h_tilde)
            return torch.lerp(K.gates_(h_tilde), h, Z, out=out)          # Z ⊙ H_{t-1} + (1 - Z) ⊙ H̃
        return cell

    def _layer_states(self, layer, XW, h, probe=None):
        H = self.num_hiddens
        W_hzr, W_hh = self._hidden_weights(layer)
        XW_zr, XW_h = XW[..., :2 * H], XW[..., 2 * H:]
        hs = []
        for t in range(XW.shape[0]):
            Z, R = torch.sigmoid(torch.addmm(XW_zr[t], h, W_hzr)).chunk(2, 1)
            H_tilde = torch.tanh(torch.addmm(XW_h[t], R * h, W_hh))
            h = H_tilde + Z * (h - H_tilde)                          # Z ⊙ H_{t-1} + (1 - Z) ⊙ H̃
            if probe is not None:
                h = h + probe[t]
            hs.append(h)
        return hs, h


class LSTMScratch(_StackedScratch):
    """The book's LSTM (d2l 10.1); the state is the pair (H, C), each shaped as a GRU's state."""

    GATES = ("i", "f", "o", "c")
    FUSED = ("o", "i", "f", "c")  # the sigmoid gates side by side, and the gates dC_t reaches

    def begin_state(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._zeros(batch_size), self._zeros(batch_size)

    def _split_state(self, state):
        L = self.num_layers
        return list(zip(split_layers(state[0], L), split_layers(state[1], L)))

    def _join_state(self, finals):
        return join_layers([h for h, _ in finals]), join_layers([c for _, c in finals])

    def _layer_fast(self, layer, XW, state):
        H_all, h, c = lstm_recurrence(XW, *state, torch.cat(self.layer_params(layer, "W_h"), 1))
        return H_all, (h, c)

    def _step_hidden_weights(self, layer, s):
        W_ho, W_hi, W_hf, W_hc = self.layer_params(layer, "W_h")
        return [(W_ho, 1.0), (W_hi, 1.0), (W_hf, 1.0), (W_hc, s)]  # H_{t-1}'s product: all gates

    def _step_cell(self, K):
        """The LSTM's step at batch 1 (see _StackedScratch.stepper): ``cell(layer, hidden, x, (h, c),
        (h_out, c_out))`` with ``hidden`` = H_{t-1} W_h, ``x`` the input terms, all gates."""
        H = self.num_hiddens
        gates, tanh_c = self.W_hq.new_empty(1, 4 * H), self.W_hq.new_empty(1, H)
        O, I, F_, C_tilde = gates.chunk(4, 1)

        def cell(layer, hidden, x, before, after):
            (_, c), (h_out, c_out) = before, after
            K.gates_(torch.add(hidden, x, out=gates), C_tilde)
            torch.mul(F_, c, out=c_out).addcmul_(I, C_tilde)                # F ⊙ C_{t-1} + I ⊙ C̃
            return torch.mul(O, K.tanh(c_out, out=tanh_c), out=h_out)       # O ⊙ tanh(C_t)
        return cell

    def _layer_states(self, layer, XW, state, probe=None):
        H = self.num_hiddens
        W_h = torch.cat(self.layer_params(layer, "W_h"), 1)          # (H, 4H): all gates in one matmul
        h, c = state
        hs = []
        for t in range(XW.shape[0]):
            gates = torch.addmm(XW[t], h, W_h)
            O, I, F_ = torch.sigmoid(gates[:, :3 * H]).chunk(3, 1)
            c = torch.addcmul(F_ * c, I, torch.tanh(gates[:, 3 * H:]))  # F ⊙ C_{t-1} + I ⊙ C̃
            h = O * torch.tanh(c)
            if probe is not None:
                h = h + probe[t]
            hs.append(h)
        return hs, (h, c)
