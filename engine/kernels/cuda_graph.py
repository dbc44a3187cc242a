"""The scratch RNN's whole training step as one CUDA graph: forward, hand-derived backward,
gradient clipping and the optimiser's update, captured once and replayed for every minibatch.

At batch 32 a training step on a GPU is a chain of hundreds of small kernels (three a time step
forward, three back, the optimiser's per parameter), so their launches, not the arithmetic, set
the pace (README: 0.71x cuDNN's nn.RNN).  Replayed as a graph, the step is one launch.  A graph
repeats fixed kernels on fixed memory, hence:

- static buffers: each minibatch, the carried state and the learning rate are copied into the
  same tensors before a replay, and the new state is read from the same output;
- no decisions on the host inside the step: the book's clipping ("if the norm exceeds theta,
  scale by theta / norm") becomes the factor min(1, theta / norm) on the device, and a NaN or
  infinite loss or norm masks the update (weights, moments and step count kept), where the
  eager Trainer skips it;
- the optimiser's scalars (learning rate, step count, bias corrections) as device tensors: the
  updates below are engine/optim.py's SGD and AdamW in that form, held to them by
  tests/test_cuda_graph.py on the CPU, where :meth:`GraphedStep.step` runs the same body without
  capturing (that is also the path of any device where capturing is unavailable).

The weights before the last finite update are kept in :attr:`GraphedStep.good` (the Trainer's
fallback after repeated non-finite steps), copied inside the graph as the eager Trainer copies
them.  Used by engine/train.py for the RNN without dropout on CUDA (``Trainer(cuda_graph=...)``;
``RNNPLAY_CUDA_GRAPH=0`` turns it off).
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from ..optim import SGD, AdamW

ENV = "RNNPLAY_CUDA_GRAPH"
WARMUP = 3  # eager runs on a side stream before capturing (allocator, cuBLAS handles)


def graph_wanted(device: torch.device, cell: str, dropout: float, choice: bool | None = None) -> bool:
    """Whether to train through a graph: only the RNN without dropout (the Trainer's dropout draws
    its masks from a generator reseeded every step, which a replay would not do), then ``choice``
    when given, else on CUDA unless ``RNNPLAY_CUDA_GRAPH=0``."""
    if cell != "rnn" or dropout:
        return False
    if choice is not None:
        return choice
    return device.type == "cuda" and os.environ.get(ENV, "1").strip() not in ("0", "off", "false")


def _sgd_update(optimizer: SGD, params, grads, lr, ok) -> None:
    """SGD.step as device arithmetic: p <- p - lr (g + wd p), not at all where ``ok`` is 0."""
    wd = optimizer.hyper["weight_decay"]
    step = -lr * ok
    for p, g in zip(params, grads):
        p.add_((g + wd * p if wd else g) * step)


def _adamw_update(optimizer: AdamW, params, grads, lr, ok) -> None:
    """AdamW.step as device arithmetic, every state change masked by ``ok``."""
    (beta1, beta2), eps, wd = optimizer.hyper["betas"], optimizer.hyper["eps"], optimizer.hyper["weight_decay"]
    for i, (p, g) in enumerate(zip(params, grads)):
        state = optimizer.state[i]
        step = state["step"] + ok
        exp_avg = torch.lerp(state["exp_avg"], g, 1 - beta1)
        exp_avg_sq = (state["exp_avg_sq"] * beta2).addcmul_(g, g, value=1 - beta2)
        denom = (exp_avg_sq.sqrt() / torch.sqrt(1 - beta2 ** step)).add_(eps)
        new_p = (p * (1 - lr * wd) if wd else p) - exp_avg / denom * (lr / (1 - beta1 ** step))
        keep = ok.bool()
        for old, new in ((state["exp_avg"], exp_avg), (state["exp_avg_sq"], exp_avg_sq), (p, new_p)):
            old.copy_(torch.where(keep, new, old))
        state["step"].copy_(step)


UPDATES = {SGD: _sgd_update, AdamW: _adamw_update}


class GraphedStep:
    """One training step of ``model`` (the scratch RNN) on static buffers; ``step`` copies a
    minibatch in, replays the captured graph (or runs the body where there is none) and reads out
    ``(loss, norm, finite, new_state)``."""

    def __init__(self, model, optimizer, clip: float, batch: int, steps: int, *, capture: bool = True):
        device = next(model.parameters()).device
        self.model, self.optimizer, self.clip = model, optimizer, clip
        self.update = UPDATES[type(optimizer)]
        self.params = optimizer.params  # the optimiser's order: its state is indexed by it
        self.X = torch.zeros(batch, steps, dtype=torch.long, device=device)
        self.Y = torch.zeros_like(self.X)
        self.state = model.begin_state(batch)
        self.lr = torch.zeros((), device=device)
        self.enabled = torch.ones((), device=device)  # 0 while warming up: nothing is updated
        self.good = [p.detach().clone() for p in self.params]
        self._before = [p.detach().clone() for p in self.params]
        if isinstance(optimizer, AdamW):  # the optimiser's own state, made now as its first step would
            for i, p in enumerate(self.params):
                optimizer.state.setdefault(i, {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p),
                                               "exp_avg_sq": torch.zeros_like(p)})
                optimizer.state[i]["step"] = optimizer.state[i]["step"].to(device)
        self.graph = None
        if capture and device.type == "cuda":
            self._capture()

    def _body(self):
        """Forward, backward, clipping, masked update; returns (loss, norm, ok, new state)."""
        for kept, p in zip(self._before, self.params):
            kept.copy_(p.detach())
        logits, new_state = self.model(self.X, self.state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), self.Y.reshape(-1))
        grads = torch.autograd.grad(loss, self.params)
        norm = torch.sqrt(sum((g * g).sum() for g in grads))
        ok = (torch.isfinite(loss) & torch.isfinite(norm)).float() * self.enabled
        scale = torch.clamp(self.clip / norm, max=1.0)                    # grad_clipping, without the if
        grads = [torch.where(ok.bool(), g * scale, torch.zeros_like(g)) for g in grads]
        with torch.no_grad():
            self.update(self.optimizer, [p.data for p in self.params], grads, self.lr, ok)
            for good, before in zip(self.good, self._before):
                good.copy_(torch.where(ok.bool(), before, good))
        return loss.detach(), norm.detach(), ok, new_state.detach()

    def _capture(self) -> None:
        self.enabled.zero_()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP):
                self._body()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = self._body()
        self.enabled.fill_(1)

    def step(self, X: torch.Tensor, Y: torch.Tensor, state: torch.Tensor, lr: float):
        """One step on this minibatch from ``state`` at learning rate ``lr``: (loss, norm before
        clipping, whether both were finite and the update made, the new state)."""
        self.X.copy_(X)
        self.Y.copy_(Y)
        self.state.copy_(state)
        self.lr.fill_(lr)
        if self.graph is not None:
            self.graph.replay()
            loss, norm, ok, new_state = self.outputs
        else:
            loss, norm, ok, new_state = self._body()
        loss, norm, finite = torch.stack([loss, norm, ok]).tolist()  # one wait for the device
        self.optimizer.hyper["lr"] = lr
        return loss, norm, bool(finite), new_state.clone()
