"""The recurrent language model of d2l 8.5 written from scratch, and its twin on ``torch.nn.RNN``.

Both take token indices ``X`` (batch, steps) and a hidden state (batch, hiddens)
and return ``(logits (batch, steps, vocab), state)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .bptt import linear, rnn_recurrence

PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")


def hidden_states(XW: torch.Tensor, h0: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor
                  ) -> list[torch.Tensor]:
    """h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h) for every t, given XW[:, t] = x_t W_xh."""
    XWb = XW + b_h  # fold the bias in once instead of once per step
    h, hs = h0, []
    for t in range(XW.shape[1]):
        h = torch.tanh(torch.addmm(XWb[:, t], h, W_hh))
        hs.append(h)
    return hs


def _normal(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    # drawn on the CPU so a seed gives the same weights on every device
    return (torch.randn(shape, generator=generator) * 0.01).to(device)


class RNNScratch(nn.Module):
    """The book's RNN: parameters W_xh (V x H), W_hh (H x H), b_h, W_hq (H x V), b_q.

    The one-hot input x_t times W_xh is the row of W_xh that x_t selects, so the
    input projection is a gather rather than a (V x H) matrix product.
    """

    def __init__(self, vocab_size: int, num_hiddens: int, *, device=None,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        V, H = vocab_size, num_hiddens
        self.W_xh = nn.Parameter(_normal((V, H), generator, device))
        self.W_hh = nn.Parameter(_normal((H, H), generator, device))
        self.b_h = nn.Parameter(torch.zeros(H, device=device))
        self.W_hq = nn.Parameter(_normal((H, V), generator, device))
        self.b_q = nn.Parameter(torch.zeros(V, device=device))

    @property
    def params(self) -> list[nn.Parameter]:
        """The book's parameter list, in the fixed order of PARAM_NAMES."""
        return [getattr(self, name) for name in PARAM_NAMES]

    def begin_state(self, batch_size: int) -> torch.Tensor:
        return torch.zeros(batch_size, self.num_hiddens, device=self.W_hh.device)

    def forward(self, X: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps = X.shape
        if steps == 0:
            return X.new_zeros(batch, 0, self.vocab_size, dtype=self.W_hq.dtype), state
        # input projection: a gather of W_xh rows (embedding's backward is far cheaper than
        # index_put's), time-major so the recurrence reads one contiguous block per step
        XW = F.embedding(X.t(), self.W_xh).transpose(0, 1)
        # recurrence over time, with the hand-derived BPTT of engine/bptt.py as its backward
        H_all, state = rnn_recurrence(XW, state, self.W_hh, self.b_h)
        # output layer, all steps at once (H_all is a view of a time-major buffer: free reshape)
        logits = linear(H_all.transpose(0, 1).reshape(batch * steps, -1), self.W_hq, self.b_q)
        return logits.view(steps, batch, -1).transpose(0, 1), state

    def stepper(self, logit_bias: torch.Tensor | None = None):
        """``step(index, h) -> (logits (1, V), h)`` for one token at batch 1, outside autograd, with
        the biases (and ``logit_bias``, e.g. a mask) folded in once: a few ops per token."""
        with torch.no_grad():
            XWb = self.W_xh + self.b_h
            W_hh, W_hq = self.W_hh.detach(), self.W_hq.detach()
            b_q = self.b_q.detach() if logit_bias is None else self.b_q + logit_bias

        def step(index: int, h: torch.Tensor):
            h = torch.addmm(XWb[index], h, W_hh).tanh_()
            return torch.addmm(b_q, h, W_hq), h
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
            self.rnn.weight_ih_l0.copy_(_normal((num_hiddens, vocab_size), generator, device))
            self.rnn.weight_hh_l0.copy_(_normal((num_hiddens, num_hiddens), generator, device))
            self.linear.weight.copy_(_normal((vocab_size, num_hiddens), generator, device))
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
