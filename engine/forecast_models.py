"""The two forecasters of the sine experiment (d2l 8.1): the book's MLP and a linear AR baseline.

Both map a batch of windows ``(n, tau)`` — columns ``x_{t-tau}, ..., x_{t-1}``, oldest
first — to the ``n`` next values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .optim import AdamW

EpochCallback = Callable[[int, float], None]


def mlp(tau: int, generator: torch.Generator, hidden: int = 10) -> nn.Sequential:
    """The book's net: tau -> 10 -> 1 with ReLU, Xavier-uniform weights, drawn from `generator`."""
    net = nn.Sequential(nn.Linear(tau, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    for layer in (net[0], net[2]):
        nn.init.xavier_uniform_(layer.weight, generator=generator)
        # PyTorch's own bias init, but from our generator so a seed fixes the whole run
        bound = layer.in_features ** -0.5
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return net


def train_mlp(features: torch.Tensor, labels: torch.Tensor, *, epochs: int,
              generator: torch.Generator, on_epoch: EpochCallback | None = None,
              lr: float = 0.01, batch_size: int = 16) -> tuple[nn.Sequential, list[float]]:
    """Fit the book's MLP with MSE and Adam on shuffled minibatches; returns the net and,
    per epoch, the MSE over the whole training set (what the book prints)."""
    net = mlp(features.shape[1], generator)
    loss = nn.MSELoss()
    trainer = AdamW(net.parameters(), lr=lr)  # weight decay 0: exactly Adam
    losses = []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(features), generator=generator)
        for batch in order.split(batch_size):
            trainer.zero_grad()
            loss(net(features[batch]).reshape(-1), labels[batch]).backward()
            trainer.step()
        with torch.no_grad():
            losses.append(loss(net(features).reshape(-1), labels).item())
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return net, losses


@dataclass(frozen=True)
class LinearAR:
    """y_t = c + phi_1 y_{t-1} + ... + phi_p y_{t-p} (the seed notes' autoregressive model)."""

    intercept: float
    phi: torch.Tensor  # (p,): phi[0] multiplies y_{t-1}

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        # windows hold the oldest value first, phi the newest first
        return self.intercept + windows @ self.phi.flip(0).to(windows.dtype)


def fit_linear_ar(features: torch.Tensor, labels: torch.Tensor) -> LinearAR:
    """Least-squares fit of the intercept and the p = tau coefficients, in float64."""
    design = torch.cat([torch.ones(len(features), 1, dtype=torch.float64),
                        features.to(torch.float64)], dim=1)
    solution = torch.linalg.lstsq(design, labels.to(torch.float64).reshape(-1, 1)).solution.reshape(-1)
    return LinearAR(intercept=solution[0].item(), phi=solution[1:].flip(0))
