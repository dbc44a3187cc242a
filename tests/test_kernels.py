"""engine/kernels: the fast backend against the portable one, kernel by kernel and cell by cell
(values and gradients), and how the backend is chosen (capability check, RNNPLAY_KERNELS)."""
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from engine import kernels
from engine.cells import build_model
from engine.errors import ConfigError
from engine.kernels import onednn

pytestmark = pytest.mark.usefixtures("one_thread")

needs_onednn = pytest.mark.skipif(not onednn.available(), reason="this torch or CPU has no working oneDNN linear")
FAST = {"every size": lambda: onednn.OneDNN(min_macs=0), "default sizes": onednn.OneDNN}


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@needs_onednn
@pytest.mark.parametrize("sizes", list(FAST))
def test_each_kernel_agrees_with_the_portable_one(sizes):
    fast, portable = FAST[sizes](), kernels.PORTABLE
    x, W, b = rand(32, 256, seed=1), rand(256, 96, seed=2) * 0.1, rand(96, seed=3)
    wide = rand(300, 3 * 96, seed=4)  # a column slice of it: the strided weight oneDNN must not see as is
    cases = [
        (lambda k: k.product(W, 32, 2)(x), {}),
        (lambda k: k.matmul(x.t(), rand(32, 96, seed=5)), {}),
        (lambda k: k.matmul(rand(300, 32, seed=6).t(), wide[:, 96:192]), {}),
        (lambda k: k.affine(x, W, b), {}),
        (lambda k: (lambda a: k.gates_(a, a[:, 3 * 96:]))(
            rand(32, 4 * 96, seed=7) * torch.cat([torch.ones(3 * 96), torch.full((96,), k.tanh_scale)])), {"atol": 3e-7, "rtol": 0}),
        (lambda k: k.tanh(rand(32, 96, seed=8) * 4, out=torch.empty(32, 96)), {"atol": 3e-7, "rtol": 0}),
        (lambda k: k.sigmoid_backward(rand(32, 96, seed=9), torch.rand(32, 96), out=torch.empty(32, 96)), {}),
        (lambda k: k.tanh_backward(rand(32, 96, seed=10), torch.rand(32, 96)), {}),
        (lambda k: k.tanh_backward(rand(32, 96, seed=10), torch.rand(32, 96), out=torch.empty(32, 96)), {}),
    ]
    for i, (run, tol) in enumerate(cases):
        torch.manual_seed(i)
        expected = run(portable)
        torch.manual_seed(i)
        torch.testing.assert_close(run(fast), expected, **({"atol": 1e-4, "rtol": 1e-4} | tol), msg=f"case {i}")


def _loss_and_grads(cell, kernel, *, hidden, layers=1, embed=0, seed=0):
    model = build_model(cell, 11, hidden, layers, embed=embed, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)
    X, Y = torch.randint(0, 11, (4, 9), generator=g), torch.randint(0, 11, (4, 9), generator=g)
    state = model.begin_state(4)
    state = tuple(s + 0.3 for s in state) if isinstance(state, tuple) else state + 0.3
    leaves = state if isinstance(state, tuple) else (state,)
    for s in leaves:
        s.requires_grad_()
    with kernels.using(kernel):
        logits, final = model(X, state)
        loss = F.cross_entropy(logits.reshape(-1, 11), Y.reshape(-1))
        grads = torch.autograd.grad(loss, [*model.parameters(), *leaves])
    finals = final if isinstance(final, tuple) else (final,)
    return [logits, *finals, *grads]


@needs_onednn
@pytest.mark.parametrize("cell,layers,embed", [("rnn", 1, 0), ("rnn", 2, 0), ("gru", 1, 0), ("gru", 2, 0),
                                               ("lstm", 1, 0), ("lstm", 2, 8)])
@pytest.mark.parametrize("sizes", list(FAST))
def test_each_cell_gives_the_same_values_and_gradients_on_both_backends(cell, layers, embed, sizes):
    hidden = 40 if sizes == "every size" else 160  # 160: the default thresholds pick oneDNN for some products
    fast = _loss_and_grads(cell, FAST[sizes](), hidden=hidden, layers=layers, embed=embed)
    portable = _loss_and_grads(cell, kernels.PORTABLE, hidden=hidden, layers=layers, embed=embed)
    assert len(fast) == len(portable)
    for i, (a, b) in enumerate(zip(fast, portable)):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4, msg=f"output {i}")


def test_tensors_the_chosen_backend_does_not_serve_get_the_portable_kernels():
    assert kernels.for_tensor(torch.zeros(2, dtype=torch.float64)) is kernels.PORTABLE
    with kernels.using(onednn.OneDNN()) as fast:
        assert kernels.for_tensor(torch.zeros(2)) is fast
        assert kernels.for_tensor(torch.zeros(2, dtype=torch.float64)) is kernels.PORTABLE
        assert kernels.backend() is fast
    with kernels.using(kernels.PORTABLE):
        assert kernels.for_tensor(torch.zeros(2)) is kernels.PORTABLE
        assert kernels.keep_freed_memory() is False  # the portable path leaves the allocator alone


def test_the_capability_check_falls_back_to_portable(monkeypatch):
    monkeypatch.setattr(onednn, "available", lambda: False)
    monkeypatch.delenv(kernels.ENV, raising=False)
    assert kernels._from_environment() is kernels.PORTABLE
    monkeypatch.setenv(kernels.ENV, "onednn")
    with pytest.raises(ConfigError, match="RNNPLAY_KERNELS=onednn: .*use auto or portable"):
        kernels._from_environment()


def test_a_missing_private_op_fails_the_capability_check(monkeypatch):
    def no_such_op():  # what torch.ops says on a torch without the op
        raise AttributeError("'_OpNamespace' 'mkldnn' object has no attribute '_linear_pointwise'")

    onednn.available.cache_clear()
    monkeypatch.setattr(onednn, "_ops", no_such_op)
    try:
        assert onednn.available() is False
    finally:
        onednn.available.cache_clear()


def _chosen_in_a_fresh_process(value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in __import__("os").environ.items() if k != kernels.ENV}
    if value is not None:
        env[kernels.ENV] = value
    code = "from engine import kernels; print(kernels.backend().name)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_the_environment_switch_forces_the_portable_path():
    assert _chosen_in_a_fresh_process("portable").stdout.split()[-1] == "portable"
    default = _chosen_in_a_fresh_process(None).stdout.split()[-1]
    assert default == ("onednn" if onednn.available() else "portable")
    bad = _chosen_in_a_fresh_process("fastest")
    assert bad.returncode != 0 and "RNNPLAY_KERNELS=fastest: unknown kernels; use one of auto, onednn, portable" \
        in bad.stderr
