"""The roofline of a training step: its unavoidable matmuls alone, on the same shapes and threads.

A scratch cell's step (one layer, one-hot inputs, so the input projection is a gather) multiplies
per time step the state by the hidden weights (forward) and the pre-activations' gradient by their
transpose (backward); after the loop it forms the weight gradients as one product each, and the
output layer makes three (forward, d input, d weight).  :class:`Roofline` runs exactly those
products, each on the faster of torch.mm and the chosen kernels' (engine/kernels), so a step's
time over the roofline's is the share of the step the matmuls take: what is left is overhead.
"""
from __future__ import annotations

import time

import torch

from engine import kernels

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def step_products(cell: str, hidden: int, batch: int, steps: int, vocab: int):
    """``(per_step, once)``: the (rows, inner, cols) of each product made at every time step of
    the forward and the backward pass, and of those made once per minibatch."""
    H, rows = hidden, batch * steps
    if cell == "gru":  # Z and R in one product, the candidate's after the reset
        forward = [(batch, H, 2 * H), (batch, H, H)]
        weights = [(H, rows, 2 * H), (H, rows, H)]
    else:
        forward = [(batch, H, GATES[cell] * H)]
        weights = [(H, rows, GATES[cell] * H)]
    backward = [(b, n, k) for b, k, n in forward]
    output = [(rows, H, vocab), (rows, vocab, H), (H, rows, vocab)]
    return forward + backward, weights + output


def _seconds(fn, repeats: int = 3, now=time.perf_counter) -> float:
    fn()
    start = now()
    for _ in range(repeats):
        fn()
    return (now() - start) / repeats


def _faster(candidates):
    return min(candidates, key=_seconds)


class Roofline:
    """Calling it makes every product of one training step once (per-step products ``steps``
    times each, through the Python loop a recurrence has too)."""

    def __init__(self, cell: str, hidden: int, batch: int, steps: int, vocab: int):
        per_step, once = step_products(cell, hidden, batch, steps, vocab)
        fast, g = kernels.backend(), torch.Generator().manual_seed(0)
        self.steps, self.loops, self.products = steps, [], []  # zero-argument calls
        for rows, inner, cols in per_step:
            x, W = torch.randn(rows, inner, generator=g), torch.randn(inner, cols, generator=g)
            self.loops.append(_faster([lambda f=kernel.product(W, rows, steps), x=x: f(x)
                                       for kernel in (kernels.PORTABLE, fast)]))
        for rows, inner, cols in once:
            # the layouts of the real code: a transposed (time-major states, transposed), b as is
            a, b = torch.randn(inner, rows, generator=g).t(), torch.randn(inner, cols, generator=g)
            self.products.append(_faster([lambda k=kernel, a=a, b=b: k.matmul(a, b)
                                          for kernel in (kernels.PORTABLE, fast)]))

    def __call__(self) -> None:
        for product in self.loops:
            for _ in range(self.steps):
                product()
        for product in self.products:
            product()


def matmul_gflops(size: tuple[int, int, int] = (32, 512, 512), repeats: int = 200, now=time.perf_counter) -> float:
    """GFLOP/s of the faster of torch.mm and the kernels' product on a (rows, inner) x (inner, cols)
    float32 matmul (README's machine tables name each CPU by this figure), timed by ``now``."""
    rows, inner, cols = size
    g = torch.Generator().manual_seed(0)
    x, W = torch.randn(rows, inner, generator=g), torch.randn(inner, cols, generator=g)
    seconds = min(_seconds(lambda f=kernel.product(W, rows, repeats): f(x), repeats, now)
                  for kernel in (kernels.PORTABLE, kernels.backend()))
    return 2 * rows * inner * cols / seconds / 1e9
