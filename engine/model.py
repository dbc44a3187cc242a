"""The recurrent language model of d2l 8.5 written from scratch, and its twin on ``torch.nn.RNN``.

Both take token indices ``X`` (batch, steps) and a hidden state (batch, hiddens; for a stacked
RNNScratch (layers, batch, hiddens)) and return ``(logits (batch, steps, vocab), state)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import kernels
from .bptt import linear, rnn_recurrence
from .layers import (forward_stepper, init_stack, join_layers, layer_suffix, normal_init, split_layers,
                     zero_state)

PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")


def hidden_states(XW: torch.Tensor, h0: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor,
                  probe: torch.Tensor | None = None) -> list[torch.Tensor]:
    """h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h) for every t, given XW[:, t] = x_t W_xh; a
    ``probe`` (steps, batch, H) is added to each h_t before it is used, so that
    d loss / d probe_t = dL/dh_t (metrics.gradient_flow)."""
    XWb = XW + b_h  # fold the bias in once instead of once per step
    h, hs = h0, []
    for t in range(XW.shape[1]):
        h = torch.tanh(torch.addmm(XWb[:, t], h, W_hh))
        if probe is not None:
            h = h + probe[t]
        hs.append(h)
    return hs


class RNNScratch(nn.Module):
    """The book's RNN: parameters W_xh (V x H), W_hh (H x H), b_h, W_hq (H x V), b_q; stacked
    ``num_layers`` deep (d2l 10.3: layer l >= 2 has ``W_xh_l<l>`` (H x H), ``W_hh_l<l>``,
    ``b_h_l<l>``), with dropout between the layers and before the output layer (training only).

    The one-hot input x_t times W_xh is the row of W_xh that x_t selects, so the
    input projection is a gather rather than a (V x H) matrix product.
    """

    def __init__(self, vocab_size: int, num_hiddens: int, *, num_layers: int = 1, dropout: float = 0.0,
                 device=None, generator: torch.Generator | None = None):
        super().__init__()
        init_stack(self, ("h",), vocab_size, num_hiddens, num_layers=num_layers, dropout=dropout,
                   device=device, generator=generator)

    @property
    def params(self) -> list[nn.Parameter]:
        """The book's parameter list: layer by layer (PARAM_NAMES for one layer), then W_hq, b_q."""
        return list(self.parameters())

    def layer_params(self, layer: int) -> tuple[nn.Parameter, nn.Parameter, nn.Parameter]:
        suffix = layer_suffix(layer)
        return getattr(self, f"W_xh{suffix}"), getattr(self, f"W_hh{suffix}"), getattr(self, f"b_h{suffix}")

    def begin_state(self, batch_size: int) -> torch.Tensor:
        return zero_state(self.W_hq, self.num_layers, batch_size, self.num_hiddens)

    def _layers(self, X: torch.Tensor, state: torch.Tensor, probe: torch.Tensor | None = None):
        """The top layer's states, time-major (steps, batch, H), and the new state.  With a
        ``probe`` (steps, batch, H) the plain-autograd loop runs and adds probe_t to the top
        layer's h_t (see metrics.gradient_flow)."""
        inputs, finals = None, []
        for layer, h0 in enumerate(split_layers(state, self.num_layers)):
            W_xh, W_hh, b_h = self.layer_params(layer)
            if layer == 0:
                # input projection: a gather of W_xh rows (embedding's backward is far cheaper than
                # index_put's), time-major so the recurrence reads one contiguous block per step
                XW = F.embedding(X.t(), W_xh)
            else:
                steps, batch, hidden = inputs.shape
                below = F.dropout(inputs, self.dropout, self.training)
                XW = (below.reshape(-1, hidden) @ W_xh).view(steps, batch, -1)
            if probe is None:
                # recurrence over time, with the hand-derived BPTT of engine/bptt.py as its backward
                H_all, h = rnn_recurrence(XW.transpose(0, 1), h0, W_hh, b_h)
                inputs = H_all.transpose(0, 1)  # a view of a time-major buffer
            else:
                top = probe if layer == self.num_layers - 1 else None
                hs = hidden_states(XW.transpose(0, 1), h0, W_hh, b_h, top)
                inputs, h = torch.stack(hs), hs[-1]
            finals.append(h)
        return inputs, join_layers(finals)

    def forward(self, X: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps = X.shape
        if steps == 0:
            return X.new_zeros(batch, 0, self.vocab_size, dtype=self.W_hq.dtype), state
        H_all, state = self._layers(X, state)
        H_all = F.dropout(H_all, self.dropout, self.training)
        # output layer, all steps at once (time-major states: a free reshape)
        logits = linear(H_all.reshape(batch * steps, -1), self.W_hq, self.b_q)
        return logits.view(steps, batch, -1).transpose(0, 1), state

    def flow_states(self, X: torch.Tensor, state: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
        """Logits of the last step with ``probe`` added to the top layer's h_t; no dropout."""
        was_training = self.training
        self.eval()
        try:
            H_all, _ = self._layers(X, state, probe)
        finally:
            self.train(was_training)
        return H_all[-1] @ self.W_hq + self.b_q

    def stepper(self, logit_bias: torch.Tensor | None = None):
        """``step(index, h) -> (logits (1, V), h)`` for one token at batch 1, outside autograd.

        One matrix-vector product a token: h_t [W_hh | W_hq] gives this token's logits and the next
        token's hidden term h_t W_hh together, so a step is that product, the gathered input row
        x_t W_xh + b_h (the bias folded in once, with ``logit_bias``, e.g. a mask, into b_q) and one
        tanh, into buffers made once.  The hidden term is kept for the h this stepper returned; any
        other state (a fresh one, one from a forward pass) costs one more product.  The logits and
        h it returns live in two sets of buffers used in turn: read them before the step after
        next (generation reads each at once)."""
        if self.num_layers > 1:
            return forward_stepper(self, logit_bias)
        H = self.num_hiddens
        K = kernels.for_tensor(self.W_hh)
        with torch.no_grad():
            s = K.tanh_scale  # the kernels' tanh takes s times its argument (see engine/kernels)
            rows = ((self.W_xh + self.b_h) * s).unbind(0)
            W = self.W_hh.new_empty(H, H + self.vocab_size)
            torch.mul(self.W_hh, s, out=W[:, :H])
            W[:, H:] = self.W_hq
            b = torch.cat([torch.zeros_like(self.b_h), self.b_q if logit_bias is None else self.b_q + logit_bias])
        products = [W.new_empty(1, W.shape[1]) for _ in range(2)]  # [s h W_hh | logits]
        views = [(p[:, :H], p[:, H:]) for p in products]
        states = [W.new_empty(1, H) for _ in range(2)]
        turn = [0, None]  # the buffer set this step writes, and the h the last step returned

        def step(index: int, h: torch.Tensor):
            k, last = turn
            if h is not last:
                torch.addmm(b, h, W, out=products[1 - k])
            h = K.gates_(torch.add(views[1 - k][0], rows[index], out=states[k]))
            torch.addmm(b, h, W, out=products[k])
            turn[:] = 1 - k, h
            return views[k][1], h
        return step


class RNNConcise(nn.Module):
    """The same model on ``torch.nn.RNN`` + a linear output layer (d2l 8.6), for comparison."""

    def __init__(self, vocab_size: int, num_hiddens: int, *, device=None,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.rnn = nn.RNN(vocab_size, num_hiddens, batch_first=True, device=device)
        self.linear = nn.Linear(num_hiddens, vocab_size, device=device)
        with torch.no_grad():  # the scratch model's initialisation, from the caller's generator
            self.rnn.weight_ih_l0.copy_(normal_init((num_hiddens, vocab_size), generator, device))
            self.rnn.weight_hh_l0.copy_(normal_init((num_hiddens, num_hiddens), generator, device))
            self.linear.weight.copy_(normal_init((vocab_size, num_hiddens), generator, device))
            for bias in (self.rnn.bias_ih_l0, self.rnn.bias_hh_l0, self.linear.bias):
                bias.zero_()

    def begin_state(self, batch_size: int) -> torch.Tensor:
        return torch.zeros(batch_size, self.num_hiddens, device=self.linear.weight.device)

    def forward(self, X: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = nn.functional.one_hot(X, self.vocab_size).to(self.linear.weight.dtype)
        H_all, h_n = self.rnn(inputs, state.unsqueeze(0))
        return self.linear(H_all), h_n.squeeze(0)

    def stepper(self, logit_bias: torch.Tensor | None = None):
        @torch.no_grad()
        def step(index: int, h: torch.Tensor):
            logits, h = self(torch.tensor([[index]], device=h.device), h)
            return (logits[:, -1] if logit_bias is None else logits[:, -1] + logit_bias), h
        return step
