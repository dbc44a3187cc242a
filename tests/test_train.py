"""The training loop: clipping, perplexity, state handling, determinism, resume, threads."""
import math
import threading

import pytest
import torch
import torch.nn.functional as F

from engine import ConfigError, RNNScratch, Trainer, TrainingError, grad_clipping, resolve
from engine.metrics import evaluate_perplexity, perplexity
from engine.train import EpochRecord, StepRecord, split_corpus
from engine.vocab import corpus_from_text

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding a recondite "
        "matter to us his grey eyes shone and twinkled and his usually pale face was flushed and animated ") * 4


def small(**overrides):
    values = dict(hidden=16, steps=5, batch=4, epochs=2, optimizer="sgd", lr=1.0, device="cpu", seed=3)
    values.update(overrides)
    return resolve(**values)


def make_trainer(**overrides):
    corpus, vocab = corpus_from_text(TEXT)
    return Trainer(small(**overrides), corpus, vocab, corpus_name="")


def params(trainer):
    return [p.detach().clone() for p in trainer.model.params]


pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------ metrics ----

def test_grad_clipping_scales_to_theta_against_a_hand_computation():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    a.grad, b.grad = torch.tensor([3.0, 4.0]), torch.tensor([12.0])  # global norm sqrt(9+16+144) = 13
    assert grad_clipping([a, b], 1.0) == pytest.approx(13.0)
    torch.testing.assert_close(a.grad, torch.tensor([3 / 13, 4 / 13]))
    torch.testing.assert_close(b.grad, torch.tensor([12 / 13]))
    assert grad_clipping([a, b], 5.0) == pytest.approx(1.0)  # below theta: left alone
    torch.testing.assert_close(b.grad, torch.tensor([12 / 13]))


def test_grad_clipping_takes_a_module_or_the_books_params():
    model = RNNScratch(5, 3)
    for p in model.params:
        p.grad = torch.full_like(p, 2.0)
    count = sum(p.numel() for p in model.params)
    assert grad_clipping(model, 0.5) == pytest.approx(2.0 * math.sqrt(count))
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in model.params))
    assert float(total) == pytest.approx(0.5)

    class Book:  # d2l's scratch model exposes .params
        pass
    book = Book()
    book.params = list(model.params)
    assert grad_clipping(book, 10.0) == pytest.approx(0.5)


def test_perplexity_of_uniform_logits_is_the_vocabulary_size():
    V = 28
    targets = torch.randint(0, V, (100,), generator=torch.Generator().manual_seed(0))
    assert perplexity(float(F.cross_entropy(torch.zeros(100, V), targets))) == pytest.approx(V)
    model = RNNScratch(V, 8)
    with torch.no_grad():
        for p in model.params:
            p.zero_()
    assert evaluate_perplexity(model, targets, "cpu") == pytest.approx(V)
    assert perplexity(1e6) == math.inf


# ------------------------------------------------------------------- config ----

@pytest.mark.parametrize("field, value", [("hidden", 0), ("steps", -1), ("lr", 0.0), ("lr", math.nan),
                                          ("clip", -1.0), ("optimizer", "rmsprop"), ("iterator", "shuffle"),
                                          ("token", "byte"), ("val_fraction", 0.9), ("device", "tpu"),
                                          ("epochs", 1.5), ("time_budget", -1)])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        small(**{field: value}).validate()


def test_split_keeps_the_first_floor_ninety_percent_for_training():
    train, val = split_corpus(list(range(1005)), 0.1)
    assert len(train) == math.floor(0.9 * 1005) and train[-1] + 1 == val[0] and len(val) == 1005 - 904
    train, val = split_corpus(list(range(10)), 0.0)
    assert len(train) == 10 and len(val) == 0


def test_too_little_text_is_a_config_error():
    corpus, vocab = corpus_from_text("abc abc abc abc")
    with pytest.raises(ConfigError, match="too few"):
        Trainer(small(batch=8, steps=8, val_fraction=0), corpus, vocab)
    with pytest.raises(ConfigError, match="validation"):
        Trainer(small(batch=1, steps=1, val_fraction=0.05), corpus, vocab)


# ---------------------------------------------------------------------- loop ----

def test_records_count_steps_and_epochs():
    trainer = make_trainer()
    records = list(trainer.run())
    steps = [r for r in records if isinstance(r, StepRecord)]
    epochs = [r for r in records if isinstance(r, EpochRecord)]
    assert [e.epoch for e in epochs] == [1, 2] and trainer.epoch == 2
    assert [s.global_step for s in steps] == list(range(1, trainer.global_step + 1))
    assert all(1 <= s.step <= s.steps_per_epoch for s in steps)
    assert all(s.perplexity == pytest.approx(math.exp(s.loss)) for s in steps)
    assert all(s.clipped == (s.grad_norm > 1.0) for s in steps)
    assert epochs[0].val_perplexity is not None and epochs[0].is_best
    assert epochs[-1].best_val_perplexity == min(e.val_perplexity for e in epochs)
    # the epoch's perplexity is token-weighted: every minibatch has the same size here
    first = [s.loss for s in steps if s.epoch == 1]
    assert epochs[0].train_perplexity == pytest.approx(math.exp(sum(first) / len(first)))
    assert trainer.dirty


@pytest.mark.parametrize("iterator, fresh_per_epoch", [("random", None), ("sequential", 1)])
def test_sequential_carries_the_state_random_starts_fresh(iterator, fresh_per_epoch):
    trainer = make_trainer(iterator=iterator, epochs=1)
    calls = []
    original = trainer.model.begin_state
    trainer.model.begin_state = lambda b: calls.append(b) or original(b)
    steps = sum(isinstance(r, StepRecord) for r in trainer.run())
    fresh = len(calls) - 1  # one more for validation
    assert fresh == (fresh_per_epoch or steps)
    tensors, _ = trainer.state_dict()
    assert tensors["state.h"].shape == (4, 16) and not tensors["state.h"].requires_grad  # carried


def test_same_seed_same_run_whatever_the_global_rng():
    results = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        trainer = make_trainer(iterator="random", optimizer="adam", lr=0.01)
        losses = [r.loss for r in trainer.run() if isinstance(r, StepRecord)]
        results.append((losses, params(trainer)))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(p, q) for p, q in zip(results[0][1], results[1][1]))


@pytest.mark.parametrize("iterator, optimizer", [("sequential", "adam"), ("random", "sgd")])
def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path, iterator, optimizer):
    lr = 0.01 if optimizer == "adam" else 1.0
    straight = make_trainer(epochs=4, iterator=iterator, optimizer=optimizer, lr=lr)
    expected = [r for r in straight.run()]

    first = make_trainer(epochs=2, iterator=iterator, optimizer=optimizer, lr=lr)
    got = list(first.run())
    first.save(tmp_path / "run.safetensors")
    corpus, _ = corpus_from_text(TEXT)
    resumed = Trainer.load(tmp_path / "run.safetensors", corpus=corpus, changes={"epochs": 4})
    got += list(resumed.run())
    key = lambda r: (type(r).__name__, r.epoch, getattr(r, "loss", None), r.__dict__.get("val_perplexity"))
    assert [key(r) for r in got] == [key(r) for r in expected]
    assert all(torch.equal(p, q) for p, q in zip(params(resumed), params(straight)))
    assert resumed.best_val_perplexity == straight.best_val_perplexity


def test_stop_mid_epoch_and_run_again_or_resume_equals_an_uninterrupted_run(tmp_path):
    straight = make_trainer(epochs=2, optimizer="adam", lr=0.01)
    expected = [r.loss for r in straight.run() if isinstance(r, StepRecord)]

    trainer = make_trainer(epochs=2, optimizer="adam", lr=0.01)
    losses = []
    for record in trainer.run():  # leaving the loop stops after the step of the last record
        losses.append(record.loss)
        if len(losses) == 3:
            break
    assert len(losses) == 3 and trainer.global_step == 3
    run = trainer.run()  # run() again continues
    for record in run:
        losses.append(record.loss)
        if len(losses) == 5:
            run.close()
    assert trainer.global_step == 5
    trainer.save(tmp_path / "mid.safetensors")
    corpus, _ = corpus_from_text(TEXT)
    resumed = Trainer.load(tmp_path / "mid.safetensors", corpus=corpus)
    losses += [r.loss for r in resumed.run() if isinstance(r, StepRecord)]
    assert losses == expected
    assert all(torch.equal(p, q) for p, q in zip(params(resumed), params(straight)))


def test_a_run_paused_by_not_asking_and_stopped_by_closing_from_another_thread_resumes_exactly():
    """The driver of the loop (the app's training worker) runs in another thread: it pauses by
    not asking for the next record, and stops by closing the generator; nothing trains meanwhile,
    and the run then goes on exactly as an uninterrupted one."""
    straight = make_trainer(epochs=2, optimizer="adam", lr=0.01)
    expected = [r.loss for r in straight.run() if isinstance(r, StepRecord)]
    trainer = make_trainer(epochs=2, optimizer="adam", lr=0.01)
    asked, answered, losses = threading.Event(), threading.Event(), []

    def drive(count: int):
        run = trainer.run()
        for record in run:
            if isinstance(record, StepRecord):
                losses.append(record.loss)
            answered.set()
            asked.wait()  # paused: the next record is not asked for until the main thread says so
            asked.clear()
            if len(losses) >= count:
                run.close()  # stopped
                return

    worker = threading.Thread(target=drive, args=(3,), daemon=True)
    worker.start()
    for _ in range(3):
        assert answered.wait(30)
        answered.clear()
        at_pause = trainer.global_step
        assert not answered.wait(0.2) and trainer.global_step == at_pause  # nothing trains while paused
        asked.set()
    worker.join(30)
    assert not worker.is_alive() and trainer.global_step == len(losses) == 3
    losses += [r.loss for r in trainer.run() if isinstance(r, StepRecord)]
    assert losses == expected
    assert all(torch.equal(p, q) for p, q in zip(params(trainer), params(straight)))


def test_snapshot_is_a_detached_copy_safe_while_training():
    trainer = make_trainer(epochs=3)
    snapshots = []
    for record in trainer.run():
        if isinstance(record, StepRecord) and record.global_step == 2:
            snapshots.append((trainer.snapshot_model(), params(trainer)))
    snap, at_the_time = snapshots[0]
    assert all(torch.equal(p, q) for p, q in zip(snap.params, at_the_time))
    assert not any(torch.equal(p, q) for p, q in zip(snap.params[:2], trainer.model.params[:2]))
    assert not any(p.requires_grad for p in snap.params)
    best, (tensors, _) = trainer.snapshot_model(best=True), trainer.state_dict()
    names = [name for name, _ in best.named_parameters()]
    assert all(torch.equal(p, tensors[f"best.{name}"]) for name, p in zip(names, best.params))


def test_gradient_flow_vanishes_towards_the_start_at_the_books_initialisation():
    trainer = make_trainer()
    norms = trainer.gradient_flow()
    assert len(norms) == trainer.config.steps
    assert all(a < b for a, b in zip(norms, norms[1:]))  # W_hh ~ 0.01: gradients shrink going back in time
    # the last one by hand: dL_T/dh_T = (softmax(o_T) - onehot(y_T)) W_hq^T / B
    rng = torch.Generator().manual_seed(trainer.config.seed + trainer.global_step)
    from engine.data import seq_data_iter_random
    train, _ = split_corpus(corpus_from_text(TEXT)[0], trainer.config.val_fraction)
    X, Y = seq_data_iter_random(train, trainer.config.batch, trainer.config.steps, generator=rng)[0]
    m = trainer.model
    with torch.no_grad():
        logits, _ = m(X, m.begin_state(X.shape[0]))
        delta = (torch.softmax(logits[:, -1], -1) - F.one_hot(Y[:, -1], len(trainer.vocab))) @ m.W_hq.T
    assert norms[-1] == pytest.approx(float(delta.norm() / X.shape[0]), rel=1e-4)


def test_a_diverged_run_is_a_training_error():
    trainer = make_trainer()
    with torch.no_grad():
        trainer.model.W_hq.fill_(math.nan)
    with pytest.raises(TrainingError, match="diverged"):
        list(trainer.run())


def test_time_budget_stops_the_run():
    trainer = make_trainer(epochs=10_000, time_budget=0.2)
    steps = [r for r in trainer.run() if isinstance(r, StepRecord)]
    assert trainer.elapsed >= 0.2 and trainer.epoch < 10_000
    assert steps[-1].progress == 1.0 and steps[-2].progress < 1.0  # the engine's clock, in the records


def test_training_on_timemachine_lowers_perplexity(timemachine):
    from engine.tokenfile import load_corpus

    corpus, vocab = load_corpus("timemachine", max_tokens=20_000)
    config = resolve(hidden=64, steps=32, batch=32, optimizer="adam", lr=0.01, epochs=15, device="cpu")
    records = list(Trainer(config, corpus, vocab, corpus_name="timemachine").run())
    first = next(r for r in records if isinstance(r, StepRecord))
    last = [r for r in records if isinstance(r, EpochRecord)][-1]
    assert first.perplexity > 20  # about the vocabulary size (28) at the start
    assert last.train_perplexity < 7 and last.best_val_perplexity < 8.5


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_train_resume_and_generate_on_cuda(tmp_path):
    from engine import generate

    trainer = make_trainer(device="cuda", optimizer="adam", lr=0.01)
    list(trainer.run())
    assert trainer.model.W_hh.is_cuda and len(trainer.gradient_flow()) == trainer.config.steps
    trainer.save(tmp_path / "gpu.safetensors")
    corpus, _ = corpus_from_text(TEXT)
    resumed = Trainer.load(tmp_path / "gpu.safetensors", corpus=corpus, changes={"epochs": 3})
    assert sum(isinstance(r, EpochRecord) for r in resumed.run()) == 1
    text = "".join(generate(resumed.snapshot_model(), resumed.vocab, "the ", 20, temperature=1.0,
                            generator=torch.Generator().manual_seed(0)))
    assert len(text) == 20


def test_a_cpu_trainer_keeps_freed_buffers_instead_of_faulting_them_in_again():
    """Freeing and reallocating an 8 MB buffer, as every training step does with its activations,
    costs 2,048 minor page faults each time glibc hands it back to the system (16,000 for these 20
    rounds in a fresh process here); once a CPU Trainer exists, at most the first round faults."""
    resource = pytest.importorskip("resource")
    from engine.kernels import keep_freed_memory

    make_trainer()
    if not keep_freed_memory():
        pytest.skip("not glibc")
    torch.empty(2 << 20).fill_(1.0)  # the heap grows once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        torch.empty(2 << 20).fill_(1.0)  # 8 MB, 2,048 pages
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 4_096
