"""The two optimisers, written out as the book writes its ``sgd``.

Plain SGD (d2l's ``sgd``, with optional L2 weight decay) and AdamW (Loshchilov &
Hutter: Adam with decoupled weight decay), with the same arithmetic, defaults
and ``state_dict`` layout as ``torch.optim.SGD`` / ``torch.optim.AdamW``
(the tests hold them to torch's).  Why not torch's: creating any
``torch.optim`` optimiser imports ``torch._dynamo``, about 70 MB of resident
memory and seconds of start-up that a playground on two cores should not pay.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class _Optimizer:
    defaults: dict = {}

    def __init__(self, params: Iterable[torch.nn.Parameter], **hyper):
        self.params = list(params)
        self.hyper = {**self.defaults, **hyper}
        self.state: dict[int, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def state_dict(self) -> dict:
        """torch's layout: per-parameter state by index, and one parameter group."""
        return {"state": {i: dict(s) for i, s in self.state.items()},
                "param_groups": [{**self.hyper, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state_dict: dict) -> None:
        (group,) = state_dict["param_groups"]
        self.hyper.update({k: v for k, v in group.items() if k != "params"})
        self.state = {
            int(i): {k: v.detach().clone().to(self.params[int(i)].device) for k, v in s.items()}
            for i, s in state_dict["state"].items()
        }


class SGD(_Optimizer):
    """p <- p - lr (g + weight_decay p): the book's minibatch SGD."""

    defaults = {"lr": 1.0, "weight_decay": 0.0}

    @torch.no_grad()
    def step(self) -> None:
        lr, wd = self.hyper["lr"], self.hyper["weight_decay"]
        for p in self.params:
            if p.grad is None:
                continue
            grad = p.grad.add(p, alpha=wd) if wd else p.grad
            p.add_(grad, alpha=-lr)


class AdamW(_Optimizer):
    """Adam's bias-corrected moment estimates, with weight decay applied to the weights
    directly (decoupled) rather than through the gradient."""

    defaults = {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}

    @torch.no_grad()
    def step(self) -> None:
        lr, (beta1, beta2) = self.hyper["lr"], self.hyper["betas"]
        eps, wd = self.hyper["eps"], self.hyper["weight_decay"]
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = p.grad
            state = self.state.get(i)
            if state is None:
                state = self.state[i] = {
                    "step": torch.tensor(0.0),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
            state["step"] += 1
            step = float(state["step"])
            if wd:
                p.mul_(1 - lr * wd)
            state["exp_avg"].lerp_(grad, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** step)).add_(eps)
            p.addcdiv_(state["exp_avg"], denom, value=-lr / (1 - beta1 ** step))
