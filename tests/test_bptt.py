"""Hand-derived BPTT (engine/bptt.py) against torch autograd on the same computation."""
import pytest
import torch
import torch.nn.functional as F

from engine import kernels
from engine.bptt import bptt_gradients, linear, rnn_recurrence

PARAMS = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")
SHAPES = [(1, 1, 3, 2), (2, 5, 4, 6), (3, 7, 8, 5), (4, 12, 6, 9)]  # batch, steps, hidden, vocab

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


pytestmark = pytest.mark.usefixtures("one_thread")


def make_params(vocab, hidden, *, dtype=torch.float64, seed=0, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    shapes = {"W_xh": (vocab, hidden), "W_hh": (hidden, hidden), "b_h": (hidden,),
              "W_hq": (hidden, vocab), "b_q": (vocab,)}
    return {name: (torch.randn(shape, generator=g, dtype=dtype) * scale).requires_grad_()
            for name, shape in shapes.items()}


def autograd_loss(X, Y, h0, p):
    """The book's forward, step by step, with every h_t kept for retain_grad."""
    h, hs, outputs = h0, [], []
    for t in range(X.shape[1]):
        h = torch.tanh(p["W_xh"][X[:, t]] + h @ p["W_hh"] + p["b_h"])
        h.retain_grad()
        hs.append(h)
        outputs.append(h @ p["W_hq"] + p["b_q"])
    O = torch.stack(outputs, dim=1)
    return F.cross_entropy(O.reshape(-1, O.shape[-1]), Y.reshape(-1)), hs


def plain_recurrence(XW, h0, W_hh, b_h):
    h, hs = h0, []
    for t in range(XW.shape[1]):
        h = torch.tanh(XW[:, t] + h @ W_hh + b_h)
        hs.append(h)
    return torch.stack(hs, dim=1), h


@pytest.mark.parametrize("batch,steps,hidden,vocab", SHAPES)
def test_bptt_gradients_equal_autograd(batch, steps, hidden, vocab):
    g = torch.Generator().manual_seed(steps)
    X = torch.randint(vocab, (batch, steps), generator=g)
    Y = torch.randint(vocab, (batch, steps), generator=g)
    p = make_params(vocab, hidden, seed=steps)
    h0 = torch.randn(batch, hidden, generator=g, dtype=torch.float64).requires_grad_()

    ours = bptt_gradients(X, Y, h0, *(p[name] for name in PARAMS))
    loss, hs = autograd_loss(X, Y, h0, p)
    loss.backward()

    torch.testing.assert_close(ours["loss"], loss.detach(), rtol=1e-12, atol=1e-12)
    for name in PARAMS:
        torch.testing.assert_close(ours[name], p[name].grad, rtol=1e-10, atol=1e-12, msg=name)
    torch.testing.assert_close(ours["h0"], h0.grad, rtol=1e-10, atol=1e-12)
    norms = torch.stack([h.grad.norm() for h in hs])
    torch.testing.assert_close(ours["dh_norms"], norms, rtol=1e-10, atol=1e-14)


def test_bptt_gradients_do_not_touch_the_parameters():
    p = make_params(5, 4)
    before = {name: t.detach().clone() for name, t in p.items()}
    X = torch.randint(5, (2, 3))
    out = bptt_gradients(X, X, torch.zeros(2, 4, dtype=torch.float64), *(p[name] for name in PARAMS))
    assert all(t.grad is None for t in p.values())
    assert not any(v.requires_grad for v in out.values())
    for name in PARAMS:
        assert torch.equal(p[name].detach(), before[name])


def recurrence_inputs(batch, steps, hidden, *, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    tensors = (torch.randn(batch, steps, hidden, generator=g, dtype=dtype),
               torch.randn(batch, hidden, generator=g, dtype=dtype),
               torch.randn(hidden, hidden, generator=g, dtype=dtype) * (1.2 / hidden ** 0.5),
               torch.randn(hidden, generator=g, dtype=dtype))
    return [t.to(device).requires_grad_() for t in tensors]


@pytest.mark.parametrize("batch,steps,hidden", [(1, 1, 2), (2, 4, 3), (3, 5, 4)])
def test_rnn_recurrence_gradcheck(batch, steps, hidden):
    assert torch.autograd.gradcheck(rnn_recurrence, recurrence_inputs(batch, steps, hidden))


def _loss_and_grads(fn, inputs, use_last, weights):
    H_all, h_last = fn(*inputs)
    loss = (H_all * weights[0]).sum()
    if use_last:
        loss = loss + (h_last * weights[1]).sum()
    return (H_all, h_last), torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-11), (torch.float32, 1e-4)])
@pytest.mark.parametrize("use_last", [False, True])
@pytest.mark.parametrize("batch,steps,hidden", [(1, 1, 4), (1, 9, 16), (8, 35, 32)])
def test_rnn_recurrence_equals_plain_autograd_loop(batch, steps, hidden, dtype, tol, use_last):
    inputs = recurrence_inputs(batch, steps, hidden, dtype=dtype, seed=batch + steps)
    g = torch.Generator().manual_seed(1)
    weights = (torch.randn(batch, steps, hidden, generator=g, dtype=dtype),
               torch.randn(batch, hidden, generator=g, dtype=dtype))
    ours, our_grads = _loss_and_grads(rnn_recurrence, inputs, use_last, weights)
    ref, ref_grads = _loss_and_grads(plain_recurrence, inputs, use_last, weights)
    for a, b in zip(ours + our_grads, ref + ref_grads):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("use_last", [False, True])
def test_float32_recurrence_on_both_kernels_equals_plain_autograd(kernels_backend, use_last):
    inputs = recurrence_inputs(5, 12, 24, dtype=torch.float32, seed=7)
    weights = (torch.randn(5, 12, 24), torch.randn(5, 24))
    ours, our_grads = _loss_and_grads(rnn_recurrence, inputs, use_last, weights)
    ref, ref_grads = _loss_and_grads(plain_recurrence, inputs, use_last, weights)
    assert kernels.for_tensor(inputs[1]).name == kernels_backend
    for a, b in zip(ours + our_grads, ref + ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_float32_bptt_gradients_on_both_kernels(kernels_backend):
    X = torch.randint(6, (3, 8), generator=torch.Generator().manual_seed(2))
    p = make_params(6, 20, dtype=torch.float32, scale=0.3)
    h0 = torch.zeros(3, 20, requires_grad=True)
    ours = bptt_gradients(X, X.roll(1, 1), h0, *(p[name] for name in PARAMS))
    loss, _ = autograd_loss(X, X.roll(1, 1), h0, p)
    loss.backward()
    for name in PARAMS:
        torch.testing.assert_close(ours[name], p[name].grad, rtol=1e-4, atol=1e-6, msg=name)
    torch.testing.assert_close(ours["h0"], h0.grad, rtol=1e-4, atol=1e-6)


def test_linear_gradcheck():
    g = torch.Generator().manual_seed(4)
    args = [torch.randn(shape, generator=g, dtype=torch.float64).requires_grad_()
            for shape in ((7, 5), (5, 3), (3,))]
    assert torch.autograd.gradcheck(linear, args)


def test_float32_linear_equals_autograd_on_both_kernels(kernels_backend):
    g = torch.Generator().manual_seed(5)
    x, W, b = (torch.randn(shape, generator=g).requires_grad_() for shape in ((40, 24), (24, 9), (9,)))
    dY = torch.randn(40, 9, generator=g)
    ours = linear(x, W, b)
    our_grads = torch.autograd.grad(ours, (x, W, b), dY)
    ref = x @ W + b
    ref_grads = torch.autograd.grad(ref, (x, W, b), dY)
    for a, c in zip((ours, *our_grads), (ref, *ref_grads)):
        torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-5)


def test_float32_states_within_a_few_ulps_of_tanh():
    a = torch.linspace(-12, 12, 4001).reshape(1, 4001, 1)  # one step per value, from a zero state
    H_all, _ = rnn_recurrence(a, torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1))
    exact = torch.tanh(a.double())
    assert (H_all.double() - exact).abs().max() <= 2.5e-7
    assert H_all.abs().max() <= 1  # never outside tanh's range


def test_no_gradient_for_a_state_that_needs_none():
    XW, _, W_hh, b_h = recurrence_inputs(2, 3, 4)
    h0 = torch.zeros(2, 4, dtype=torch.float64)  # a fresh state: no gradient wanted
    H_all, _ = rnn_recurrence(XW, h0, W_hh, b_h)
    H_all.sum().backward()
    assert h0.grad is None and XW.grad is not None and W_hh.grad is not None


def test_rnn_recurrence_under_inference_mode_matches():
    inputs = [t.detach() for t in recurrence_inputs(2, 5, 6)]
    with torch.inference_mode():
        H_all, h_last = rnn_recurrence(*inputs)
    ref, ref_last = plain_recurrence(*inputs)
    torch.testing.assert_close(H_all, ref)
    torch.testing.assert_close(h_last, ref_last)


def test_rnn_recurrence_leaves_inputs_and_incoming_gradients_alone():
    XW, h0, W_hh, b_h = recurrence_inputs(1, 3, 4)  # batch 1: the transposed grad is contiguous
    before = [t.detach().clone() for t in (XW, h0, W_hh, b_h)]
    H_all, h_last = rnn_recurrence(XW, h0, W_hh, b_h)
    dH = torch.randn_like(H_all)
    dH_copy = dH.clone()
    H_all.backward(dH)
    assert torch.equal(dH, dH_copy)
    for t, saved in zip((XW, h0, W_hh, b_h), before):
        assert torch.equal(t.detach(), saved)


def test_rnn_recurrence_h_last_is_its_own_tensor():
    XW, h0, W_hh, b_h = recurrence_inputs(2, 3, 4)
    H_all, h_last = rnn_recurrence(XW, h0, W_hh, b_h)
    assert torch.equal(h_last, H_all[:, -1])
    carried = h_last.detach()
    carried.zero_()  # a trainer may reuse the carried state's memory; H_all must not change
    assert H_all[:, -1].abs().sum() > 0


def test_rnn_recurrence_sequential_state_carry_matches_one_long_sequence():
    XW, h0, W_hh, b_h = (t.detach() for t in recurrence_inputs(2, 10, 5))
    whole, _ = rnn_recurrence(XW, h0, W_hh, b_h)
    first, h = rnn_recurrence(XW[:, :6], h0, W_hh, b_h)
    second, _ = rnn_recurrence(XW[:, 6:], h.detach(), W_hh, b_h)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_rnn_recurrence_same_on_cuda_and_cpu(dtype, tol):
    grads = {}
    for device in ("cpu", "cuda"):
        inputs = recurrence_inputs(4, 20, 64, dtype=dtype, device=device, seed=3)
        weights = tuple(w.to(device) for w in (torch.ones(4, 20, 64, dtype=dtype),
                                                torch.full((4, 64), 0.5, dtype=dtype)))
        outs, g = _loss_and_grads(rnn_recurrence, inputs, True, weights)
        grads[device] = [t.cpu() for t in outs + g]
    for a, b in zip(grads["cpu"], grads["cuda"]):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.cuda
@cuda
def test_bptt_gradients_same_on_cuda_and_cpu():
    X = torch.randint(7, (3, 9), generator=torch.Generator().manual_seed(0))
    results = {}
    for device in ("cpu", "cuda"):
        p = make_params(7, 16)
        args = [t.detach().to(device) for t in (p[name] for name in PARAMS)]
        h0 = torch.zeros(3, 16, dtype=torch.float64, device=device)
        results[device] = bptt_gradients(X.to(device), X.roll(1).to(device), h0, *args)
    for key, value in results["cpu"].items():
        torch.testing.assert_close(results["cuda"][key].cpu(), value, rtol=1e-10, atol=1e-12, msg=key)
