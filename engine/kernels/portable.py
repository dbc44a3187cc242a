"""The kernels in public torch only: every device, every dtype, every torch that rnnplay supports.

The reference the fast backends are tested against, and the path for CUDA, float64 and any CPU
without the fast one (or with ``RNNPLAY_KERNELS=portable``).
"""
from __future__ import annotations

import torch


class Portable:
    """What the recurrences of engine/bptt.py and engine/gated_bptt.py ask of a backend.

    ``tanh_scale`` is the factor by which the recurrences multiply every pre-activation that goes
    through :meth:`gates_`'s tanh (folded into the weights once per call, and into the addition of
    the input terms), so that a backend may take tanh by another route at no extra cost per step.
    """

    name = "portable"
    tanh_scale = 1.0

    def accepts(self, t: torch.Tensor) -> bool:
        """Whether this backend serves tensors like ``t`` (the portable one serves every tensor)."""
        return True

    def product(self, W: torch.Tensor, rows: int, steps: int):
        """``f(x) = x @ W`` for a W (in, out) applied to ``rows``-row inputs, one per step, ``steps``
        times (a backend may prepare W once for them)."""
        return lambda x: x @ W

    def matmul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a @ b`` once: the sums over time, the output layer's gradients."""
        return a @ b

    def affine(self, x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``x @ W + b`` for x (rows, in), W (in, out), b (out)."""
        return torch.addmm(b, x, W)

    def gates_(self, a: torch.Tensor, tanh_part: torch.Tensor | None = None) -> torch.Tensor:
        """In place on the pre-activations ``a`` (rows, cols): tanh over ``tanh_part``, a view of
        a's last columns (all of a where None), which hold ``tanh_scale`` times their
        pre-activations, and sigmoid over the columns before it."""
        if tanh_part is None:
            return a.tanh_()
        a[:, :a.shape[1] - tanh_part.shape[1]].sigmoid_()
        tanh_part.tanh_()
        return a

    def tanh(self, a: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """tanh(a) into ``out``."""
        return torch.tanh(a, out=out)

    def sigmoid_backward(self, grad: torch.Tensor, s: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """grad * s (1 - s) into ``out``: the gradient through s = sigmoid(a) with respect to a."""
        return torch.mul(grad, s - s * s, out=out)

    def tanh_backward(self, grad: torch.Tensor, t: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """grad * (1 - t^2): the gradient through t = tanh(a) with respect to a."""
        return torch.mul(grad, 1 - t * t, out=out)

    def keep_freed_memory(self) -> bool:
        """Tune the process's allocator for a training loop's buffers; False: nothing to do."""
        return False
