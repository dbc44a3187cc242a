"""Issue #7, training-fault rows: NaN and Inf steps, running out of memory, SIGTERM, resuming twice.

Covered elsewhere: Ctrl+C mid-run saves and exits 130 (tests/test_train_cli.py::
test_ctrl_c_stops_cleanly_and_saves), stop from another thread leaves no worker behind
(tests/test_train.py::test_pause_resume_and_stop_from_another_thread), one resume equals an
uninterrupted run (tests/test_train.py::test_resume_from_a_checkpoint_equals_an_uninterrupted_run).
"""
import json
import math
import os
import signal
import subprocess
import sys

import pytest
import torch

from engine import Trainer, TrainingError
from engine.checkpoint import load_model
from engine.config import MAX_LR, MAX_WEIGHT_DECAY
from engine.model import RNNScratch
from engine.train import MAX_BAD_STEPS, EpochRecord, StepRecord, TrainHooks
from engine.vocab import corpus_from_text
from robustness_support import TEXT, cpu_allocation_error, fails_in_one_line, params, tiny_trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


pytestmark = pytest.mark.usefixtures("one_thread")


def poison(trainer, bad_steps, *, gradient=False):
    """Make the loss (or, with ``gradient``, the gradient of W_hq) NaN/Inf on the given global steps."""
    bad = lambda: trainer.global_step + 1 in bad_steps
    if gradient:
        trainer.model.W_hq.register_hook(lambda g: g * math.inf if bad() else g)
        return
    forward = trainer.model.forward
    trainer.model.forward = lambda X, s: (lambda out: (out[0] * math.nan, out[1]) if bad() else out)(forward(X, s))


def run_keeping_params(trainer):
    """The records, and the weights after each step record (by global step; 0: before the run)."""
    records, after = [], {trainer.global_step: params(trainer)}
    try:
        for record in trainer.run():
            records.append(record)
            if isinstance(record, StepRecord):
                after[record.global_step] = params(trainer)
    except TrainingError as exc:
        return records, after, exc
    return records, after, None


def same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a, b))


# ------------------------------------------------------------------- NaN / Inf ----

def test_nan_losses_and_infinite_gradients_are_skipped_steps_and_the_run_goes_on():
    trainer = tiny_trainer(epochs=2)
    poison(trainer, {3, 9})
    poison(trainer, {5}, gradient=True)
    records, after, error = run_keeping_params(trainer)
    steps = [r for r in records if isinstance(r, StepRecord)]
    assert error is None and trainer.epoch == 2
    assert [s.global_step for s in steps if s.skipped] == [3, 5, 9]
    for s in steps:
        changed = not same(after[s.global_step], after[s.global_step - 1])
        assert changed != s.skipped  # a skipped step updates nothing, every other one does
    assert math.isnan(steps[2].loss) and math.isinf(steps[4].grad_norm) and not steps[4].clipped
    first = [s for s in steps if s.epoch == 1 and not s.skipped]  # the epoch's perplexity leaves them out
    epoch = next(r for r in records if isinstance(r, EpochRecord))
    assert epoch.train_perplexity == pytest.approx(math.exp(sum(s.loss for s in first) / len(first)))


def test_several_bad_steps_in_a_row_stop_restore_the_last_good_weights_and_advise_a_lower_lr(tmp_path):
    trainer = tiny_trainer(epochs=3)
    poison(trainer, set(range(4, 100)))
    records, after, error = run_keeping_params(trainer)
    steps = [r for r in records if isinstance(r, StepRecord)]
    assert [s.skipped for s in steps] == [False] * 3 + [True] * MAX_BAD_STEPS
    assert isinstance(error, TrainingError) and "\n" not in str(error)
    assert "5 steps in a row had a NaN or infinite loss or gradient (up to step 8)" in str(error)
    assert "the weights are back at the last good step; lower the learning rate (--lr, now 0.01)" in str(error)
    # step 3 was the last with a finite loss: the weights are those it started from
    assert same(params(trainer), after[2]) and not same(params(trainer), after[3])
    assert trainer.dirty
    trainer.save(tmp_path / "run.safetensors")
    model, _, _ = load_model(tmp_path / "run.safetensors", best=False)
    assert same(model.params, after[2])


def test_a_learning_rate_that_blows_up_stops_with_the_last_weights_that_gave_a_finite_loss(tmp_path, capsys):
    # the largest rate and L2 penalty allowed: each step multiplies the weights by about 1e5
    trainer = tiny_trainer(optimizer="sgd", lr=MAX_LR, weight_decay=MAX_WEIGHT_DECAY)
    records, after, error = run_keeping_params(trainer)
    assert isinstance(error, TrainingError) and "lower the learning rate (--lr, now 1000)" in str(error)
    good = sum(not r.skipped for r in records)
    assert good >= 1 and [r.skipped for r in records] == [False] * good + [True] * MAX_BAD_STEPS
    assert same(params(trainer), after[good - 1])
    # from the CLI: one line, and the checkpoint holds finite weights to start again from
    src, save = tmp_path / "text.txt", tmp_path / "run.safetensors"
    src.write_text(TEXT)
    fails_in_one_line(capsys, ["train", "--corpus", str(src), "--optimizer", "sgd", "--lr", "1000",
                               "--weight-decay", "100", "--hidden", "8", "--steps", "5", "--batch", "4",
                               "--device", "cpu", "--save", str(save)],
                      "training diverged", "lower the learning rate")
    model, _, _ = load_model(save, best=False)
    assert all(torch.isfinite(p).all() for p in model.params)


# ------------------------------------------------------------- out of memory ----

@pytest.mark.parametrize("failure", [lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB"),
                                     cpu_allocation_error], ids=["cuda", "cpu"])
def test_out_of_memory_frees_says_so_and_the_run_can_go_on(monkeypatch, failure):
    straight = [r.loss for r in tiny_trainer(epochs=2).run() if isinstance(r, StepRecord)]
    trainer = tiny_trainer(epochs=2)
    forward = trainer.model.forward
    error = failure()

    def fail_at_step_3(X, state):
        if trainer.global_step + 1 == 3:
            raise error
        return forward(X, state)

    monkeypatch.setattr(trainer.model, "forward", fail_at_step_3)
    records, after, error = run_keeping_params(trainer)
    assert isinstance(error, TrainingError) and len(records) == 2 and trainer.global_step == 2
    assert str(error).startswith("out of memory on cpu while training (minibatch 4 x 5, 12 hidden units")
    assert "the memory was freed; lower --batch, --steps or --hidden" in str(error)
    assert same(params(trainer), after[2]) and all(p.grad is None for p in trainer.model.params)
    monkeypatch.undo()  # more memory now: the same trainer picks up at the failed minibatch
    losses = [r.loss for r in records] + [r.loss for r in trainer.run() if isinstance(r, StepRecord)]
    assert losses == straight


def test_out_of_memory_while_validating_and_on_cuda(monkeypatch):
    def no_memory(*args):
        raise torch.OutOfMemoryError("out of memory")

    trainer = tiny_trainer()
    monkeypatch.setattr("engine.train.evaluate_perplexity", no_memory)
    with pytest.raises(TrainingError, match="out of memory on cpu while validating"):
        list(trainer.run())
    freed = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: freed.append(True))
    trainer = tiny_trainer(hooks=TrainHooks(batch=no_memory))  # the minibatch never reaches the device
    trainer.device = torch.device("cuda")  # only the message and the freeing look at it
    with pytest.raises(TrainingError, match="out of memory on cuda while training") as caught:
        list(trainer.run())
    assert freed == [True] and str(caught.value).endswith("lower --batch, --steps or --hidden, or use --device cpu")


def test_rnnplay_train_out_of_memory_is_one_line(tmp_path, capsys, monkeypatch):
    def no_memory(self, X, state):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(RNNScratch, "forward", no_memory)
    src = tmp_path / "text.txt"
    src.write_text(TEXT)
    fails_in_one_line(capsys, ["train", "--corpus", str(src), "--hidden", "8", "--steps", "5", "--batch", "4",
                               "--device", "cpu", "--save", str(tmp_path / "run.safetensors")],
                      "out of memory on cpu while training", "lower --batch")


# ------------------------------------------------------------------- SIGTERM ----

def test_sigterm_stops_after_the_minibatch_saves_and_exits(tmp_path):
    src, save = tmp_path / "text.txt", tmp_path / "run.safetensors"
    src.write_text(TEXT * 5)
    proc = subprocess.Popen([sys.executable, "-m", "tui", "train", "--corpus", str(src), "--hidden", "16",
                             "--steps", "10", "--batch", "8", "--epochs", "100000", "--device", "cpu",
                             "--save", str(save), "--json"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # the epoch lines go to stderr with --json
            if line.startswith("epoch"):
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)  # it exits: no thread is left running
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopping after this minibatch" in err and "Traceback" not in err
    summary = json.loads(out.splitlines()[-1])
    assert 0 < summary["steps"] and 1 <= summary["epochs"] < 100000
    resumed = Trainer.load(save)
    assert (resumed.global_step, resumed.epoch) == (summary["steps"], summary["epochs"])


# -------------------------------------------------------------- resume twice ----

@pytest.mark.parametrize("iterator", ["sequential", "random"])
def test_resuming_twice_in_a_row_equals_an_uninterrupted_run(tmp_path, iterator):
    key = lambda r: (type(r).__name__, r.epoch, getattr(r, "loss", None), getattr(r, "val_perplexity", None))
    straight = tiny_trainer(epochs=3, iterator=iterator)
    expected = [key(r) for r in straight.run()]
    corpus, _ = corpus_from_text(TEXT)

    trainer, got = tiny_trainer(epochs=3, iterator=iterator), []
    for stop_at in (4, 30):  # mid first epoch, then mid second: save, load, go on
        for record in trainer.run():
            got.append(key(record))
            if isinstance(record, StepRecord) and record.global_step == stop_at:
                break
        trainer.save(tmp_path / "run.safetensors")
        trainer = Trainer.load(tmp_path / "run.safetensors", corpus=corpus)
        assert trainer.global_step == stop_at
    got += [key(r) for r in trainer.run()]
    assert got == expected
    assert same(params(trainer), params(straight))
    best = [{k: v for k, v in t.state_dict()[0].items() if k.startswith("best.")} for t in (trainer, straight)]
    assert best[0].keys() == best[1].keys() and same(best[0].values(), best[1].values())
