"""The fast CPU kernels: oneDNN's matmuls with prepacked weights, tanh through the sigmoid,
aten's fused derivative kernels, and glibc's heap kept for reuse.

Everything here leans on interfaces that another torch, CPU or C library may lack or change:
``torch.ops.mkldnn._linear_pointwise`` and ``_reorder_linear_weight`` (private, inductor's),
``torch.ops.aten.sigmoid_backward`` / ``tanh_backward`` (aten's derivative overloads) and glibc's
``mallopt``.  :func:`available` checks them all, and checks oneDNN's answers against torch.mm,
before this backend is chosen; engine/kernels/portable.py is the fallback and the reference.

Why each piece (figures per machine in README's performance tables):
- oneDNN's linear runs its own AVX-512/AVX2 kernels where MKL's sgemm takes a slower path on AMD
  CPUs, and a weight reordered once into oneDNN's blocked layout is not reordered again by every
  per-step product.  Below about a million multiply-adds a product, oneDNN's fixed cost per call
  loses to BLAS, so small products stay on torch.mm.
- torch's CPU tanh goes through MKL's VML, slow on AMD and single-threaded at these sizes, while
  its sigmoid is vectorised: tanh(a) = 2 sigmoid(2a) - 1, with the doubling folded into the
  weights (``tanh_scale``), costs one sigmoid and one fused multiply-add; within ~2e-7 of tanh.
- sigmoid_backward / tanh_backward do g s (1 - s) and g (1 - t^2) in one pass each instead of
  three; their overloads are looked up once, since resolving one per call costs more than the
  kernel at (32, 256).
"""
from __future__ import annotations

import functools

import torch

from . import heap
from .portable import Portable

MIN_MACS = 1 << 20  # multiply-adds per product from which oneDNN beats torch.mm
_MINUS_ONE = torch.tensor(-1.0)  # torch.add's first operand must be a tensor


@functools.cache
def _ops():
    """The private and overloaded ops this backend calls; raises where one is missing."""
    ops = torch.ops
    return {"linear": ops.mkldnn._linear_pointwise.default, "pack": ops.mkldnn._reorder_linear_weight.default,
            "sigmoid_backward": ops.aten.sigmoid_backward.grad_input,
            "tanh_backward": ops.aten.tanh_backward.default, "tanh_backward_out": ops.aten.tanh_backward.grad_input}


@functools.cache
def available() -> bool:
    """Whether this torch and CPU give every op of this backend, and oneDNN's products (packed and
    plain) agree with torch.mm on a small case."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        ops = _ops()
        g = torch.Generator().manual_seed(0)
        x, W = torch.randn(5, 24, generator=g), torch.randn(24, 16, generator=g)
        expected = x @ W
        plain = ops["linear"](x, W.t().contiguous(), None, "none", [], "")
        packed = ops["linear"](x, ops["pack"](W.t().contiguous(), 5), None, "none", [], "")
        s = torch.sigmoid(expected)
        grad = ops["sigmoid_backward"](torch.ones_like(s), s, grad_input=torch.empty_like(s))
    except (AttributeError, RuntimeError, TypeError):
        return False
    return all(torch.allclose(y, expected, rtol=1e-4, atol=1e-4) for y in (plain, packed)) \
        and torch.allclose(grad, s * (1 - s))


def _dense(t: torch.Tensor) -> torch.Tensor:
    """``t``, or a contiguous copy where it is neither contiguous nor a transposed contiguous
    matrix: oneDNN's linear falls back to a reference kernel, thousands of times slower, on a
    weight with other strides (a column slice of a wider matrix, for one)."""
    return t if t.is_contiguous() or t.t().is_contiguous() else t.contiguous()


def _copied(x: torch.Tensor) -> int:
    """How many elements oneDNN's linear copies to read ``x`` as its (row-major) input."""
    return 0 if x.is_contiguous() else x.numel()


class OneDNN(Portable):
    """Float32 CPU tensors through oneDNN and aten's fused kernels; everything else as Portable."""

    name = "onednn"
    tanh_scale = 2.0

    def __init__(self, min_macs: int = MIN_MACS):
        self.min_macs = min_macs
        self.ops = _ops()

    def accepts(self, t: torch.Tensor) -> bool:
        return t.device.type == "cpu" and t.dtype == torch.float32 and torch.backends.mkldnn.enabled

    def _big(self, rows: int, inner: int, cols: int) -> bool:
        return rows * inner * cols >= self.min_macs

    def product(self, W, rows, steps):
        if steps < 2 or not self._big(rows, *W.shape):  # packing W pays from its second product
            return super().product(W, rows, steps)
        linear, packed = self.ops["linear"], self.ops["pack"](W.t().contiguous(), rows)
        return lambda x: linear(x, packed, None, "none", [], "")

    def matmul(self, a, b):
        if not self._big(a.shape[0], *b.shape):
            return super().matmul(a, b)
        # oneDNN's linear, x W^T, copies an x that is not row-contiguous and takes W in any of the
        # two layouts: of a b = (b^T a^T)^T, whichever makes the smaller copy (a weight gradient
        # H^T dO over all steps copies dO^T, V columns, rather than H^T, H columns)
        if _copied(b.t()) < _copied(a):
            return self.ops["linear"](b.t().contiguous(), _dense(a), None, "none", [], "").t()
        return self.ops["linear"](_dense(a), _dense(b).t(), None, "none", [], "")

    def affine(self, x, W, b):
        if not self._big(x.shape[0], *W.shape):
            return super().affine(x, W, b)
        return self.ops["linear"](x, W.t().contiguous(), b, "none", [], "")

    def gates_(self, a, tanh_part=None):
        # the tanh columns hold 2x their pre-activation: one sigmoid over all columns, then
        # tanh = 2 sigmoid(2x) - 1 on the tanh columns
        a.sigmoid_()
        squashed = a if tanh_part is None else tanh_part
        torch.add(_MINUS_ONE, squashed, alpha=2, out=squashed)
        return a

    def tanh(self, a, out):
        return self.gates_(torch.add(a, a, out=out))

    def sigmoid_backward(self, grad, s, out):
        return self.ops["sigmoid_backward"](grad, s, grad_input=out)

    def tanh_backward(self, grad, t, out=None):
        if out is None:
            return self.ops["tanh_backward"](grad, t)
        return self.ops["tanh_backward_out"](grad, t, grad_input=out)

    def keep_freed_memory(self) -> bool:
        return heap.keep_freed_memory()
