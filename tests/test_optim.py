"""The hand-written optimisers follow torch.optim's arithmetic and state layout."""
import pytest
import torch

from engine.optim import SGD, AdamW

CASES = [
    (SGD, torch.optim.SGD, {"lr": 0.5}),
    (SGD, torch.optim.SGD, {"lr": 0.5, "weight_decay": 0.1}),
    (AdamW, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.0}),
    (AdamW, torch.optim.AdamW, {"lr": 0.003, "weight_decay": 0.05}),
]


def _params(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=g, dtype=torch.float64))
            for shape in ((5, 3), (3,), (4, 4))]


def _grads(step):
    g = torch.Generator().manual_seed(100 + step)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for shape in ((5, 3), (3,), (4, 4))]


@pytest.mark.parametrize("ours_cls, ref_cls, hyper", CASES)
def test_matches_torch_optim(ours_cls, ref_cls, hyper):
    ours_p, ref_p = _params(0), _params(0)
    ours, ref = ours_cls(ours_p, **hyper), ref_cls(ref_p, **hyper)
    for step in range(6):
        for p, q, g in zip(ours_p, ref_p, _grads(step)):
            p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
        ours.zero_grad()
        assert all(p.grad is None for p in ours_p)
    for p, q in zip(ours_p, ref_p):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)
    ref_state = ref.state_dict()["state"]
    for i, entry in ours.state_dict()["state"].items():
        assert set(entry) == set(ref_state[i])
        for key in entry:
            torch.testing.assert_close(entry[key].to(torch.float64), ref_state[i][key].to(torch.float64))


def test_state_dict_round_trip_continues_identically():
    a_p, b_p = _params(1), _params(1)
    a = AdamW(a_p, lr=0.01)
    for step in range(3):
        for p, g in zip(a_p, _grads(step)):
            p.grad = g.clone()
        a.step()
    with torch.no_grad():
        for p, q in zip(b_p, a_p):
            p.copy_(q)
    b = AdamW(b_p, lr=0.5)
    b.load_state_dict(a.state_dict())
    assert b.hyper["lr"] == 0.01
    for step in range(3, 5):
        for p, q, g in zip(a_p, b_p, _grads(step)):
            p.grad, q.grad = g.clone(), g.clone()
        a.step()
        b.step()
    for p, q in zip(a_p, b_p):
        assert torch.equal(p, q)
