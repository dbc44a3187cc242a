"""engine/kernels/cuda_graph.py: the RNN's training step for CUDA-graph replay.  On the CPU its
body runs without capturing and must train exactly as the eager Trainer does (same losses, norms,
weights and optimiser state, a non-finite step skipped alike); on CUDA the replayed graph must
match the eager step (marked ``cuda``, run by benchmarks/gpu_check.sh)."""
import pytest
import torch

from engine import Trainer, TrainingError, resolve
from engine.kernels import cuda_graph
from engine.train import MAX_BAD_STEPS, StepRecord
from engine.vocab import corpus_from_text

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding a recondite "
        "matter to us his grey eyes shone and twinkled and his usually pale face was flushed and animated ") * 4

pytestmark = pytest.mark.usefixtures("one_thread")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def trainer(graph: bool, device="cpu", **overrides):
    values = dict(hidden=16, steps=5, batch=4, epochs=2, optimizer="sgd", lr=1.0, clip=0.5, device=device,
                  seed=3, val_fraction=0.0)
    values.update(overrides)
    corpus, vocab = corpus_from_text(TEXT)
    return Trainer(resolve(**values), corpus, vocab, cuda_graph=graph)


def run(t, steps=12):
    records = [r for _, r in zip(range(steps), (r for r in t.run() if isinstance(r, StepRecord)))]
    return [(r.loss, r.grad_norm, r.clipped, r.lr) for r in records]


def assert_same_training(a, b, tol=1e-5):
    for (loss_a, norm_a, clipped_a, lr_a), (loss_b, norm_b, clipped_b, lr_b) in zip(run(a), run(b)):
        assert loss_a == pytest.approx(loss_b, rel=tol, abs=tol) and norm_a == pytest.approx(norm_b, rel=tol)
        assert clipped_a == clipped_b and lr_a == pytest.approx(lr_b)
    for p, q in zip(a.model.params, b.model.params):
        torch.testing.assert_close(p.detach().cpu(), q.detach().cpu(), atol=tol, rtol=tol)
    for s, t in zip(a.optimizer.state_dict()["state"].values(), b.optimizer.state_dict()["state"].values()):
        for key in s:
            torch.testing.assert_close(torch.as_tensor(s[key]).cpu(), torch.as_tensor(t[key]).cpu(), atol=tol, rtol=tol)


@pytest.mark.parametrize("overrides", [
    {},                                                                   # the book's SGD, clipping active
    {"weight_decay": 0.1, "iterator": "random"},
    {"optimizer": "adam", "lr": 0.01, "schedule": "cosine", "clip": 100.0},   # AdamW, the lr changing each step
    {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.1, "layers": 2, "clip": 0.2},
])
def test_the_graph_body_trains_as_the_eager_step_does(overrides):
    graphed, eager = trainer(True, **overrides), trainer(False, **overrides)
    assert_same_training(graphed, eager)
    assert graphed.step_graph is not None and graphed.step_graph.graph is None  # the CPU: the body, no capture
    assert eager.step_graph is None


def test_a_non_finite_step_is_skipped_as_the_eager_trainer_skips_it():
    results = []
    for graph in (True, False):
        t = trainer(graph, optimizer="adam", lr=0.01)
        run(t, 3)
        before = [p.detach().clone() for p in t.model.params]
        moments = {k: v.clone() for k, v in t.optimizer.state[0].items()}
        with torch.no_grad():
            t.model.W_hh[0, 0] = float("nan")
        (record,) = run(t, 1)
        assert record[0] != record[0] or record[1] != record[1]  # a NaN loss or norm
        assert "state.h" not in t.state_dict()[0]  # a NaN state is not carried into the next minibatch
        for k, v in t.optimizer.state[0].items():  # no update: moments and step count kept
            torch.testing.assert_close(v.cpu(), moments[k].cpu(), equal_nan=True)
        for p, q in zip(t.model.params[2:], before[2:]):
            torch.testing.assert_close(p.detach(), q)
        with pytest.raises(TrainingError, match="diverged"):  # every later step is NaN too
            run(t, MAX_BAD_STEPS)
        results.append([p.detach().clone() for p in t.model.params])  # put back: the weights before the last finite step
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_where_the_graph_is_used(monkeypatch):
    monkeypatch.delenv(cuda_graph.ENV, raising=False)
    gpu, cpu = torch.device("cuda"), torch.device("cpu")
    assert cuda_graph.graph_wanted(gpu, "rnn", 0.0) and not cuda_graph.graph_wanted(cpu, "rnn", 0.0)
    assert not cuda_graph.graph_wanted(gpu, "lstm", 0.0) and not cuda_graph.graph_wanted(gpu, "rnn", 0.2)
    assert cuda_graph.graph_wanted(cpu, "rnn", 0.0, True) and not cuda_graph.graph_wanted(gpu, "rnn", 0.0, False)
    assert not cuda_graph.graph_wanted(cpu, "rnn", 0.5, True)  # dropout's reseeded masks stay eager
    monkeypatch.setenv(cuda_graph.ENV, "0")
    assert not cuda_graph.graph_wanted(gpu, "rnn", 0.0)


def test_a_checkpoint_of_a_graphed_run_holds_its_whole_state(tmp_path):
    """Saved after 6 graphed steps and resumed (here on the eager path: the CPU), 4 more steps
    land where 10 graphed steps do."""
    whole = trainer(True, optimizer="adam", lr=0.01)
    run(whole, 10)
    first = trainer(True, optimizer="adam", lr=0.01)
    run(first, 6)
    first.save(tmp_path / "run.safetensors")
    corpus, _ = corpus_from_text(TEXT)
    resumed = Trainer.load(tmp_path / "run.safetensors", corpus=corpus)
    run(resumed, 4)
    for p, q in zip(whole.model.params, resumed.model.params):
        torch.testing.assert_close(p.detach(), q.detach(), atol=1e-5, rtol=1e-5)


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("overrides", [{}, {"optimizer": "adam", "lr": 0.01, "schedule": "cosine", "hidden": 64,
                                            "batch": 8, "steps": 12}])
def test_the_replayed_graph_trains_as_the_eager_step_does_on_cuda(overrides):
    graphed, eager = trainer(True, "cuda", **overrides), trainer(False, "cuda", **overrides)
    assert_same_training(graphed, eager, tol=1e-4)
    assert graphed.step_graph.graph is not None  # captured and replayed
