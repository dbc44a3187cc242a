"""The learning-rate schedule: constant, or cosine from lr down to 0 over the run's epochs or
time budget, through the config, the one training loop, checkpoints and the CLI."""
import math

import pytest

from engine import ConfigError, Trainer, resolve
from engine.train import StepRecord
from engine.vocab import corpus_from_text
from tui.parser import build_parser
from tui.options import train_config_from_args

TEXT = "the time traveller for so it will be convenient to speak of him was expounding a recondite matter " * 6

pytestmark = pytest.mark.usefixtures("one_thread")


def trainer(**overrides):
    values = dict(hidden=16, steps=5, batch=4, epochs=3, optimizer="adam", lr=0.01, device="cpu", seed=1)
    values.update(overrides)
    corpus, vocab = corpus_from_text(TEXT)
    return Trainer(resolve(**values), corpus, vocab)


def test_cosine_falls_from_lr_to_zero_and_constant_stays():
    cosine = resolve(lr=0.4, schedule="cosine")
    for progress, factor in ((0.0, 1.0), (1 / 3, 0.75), (0.5, 0.5), (2 / 3, 0.25), (1.0, 0.0), (1.5, 0.0)):
        assert cosine.lr_at(progress) == pytest.approx(0.4 * factor, abs=1e-15)
    assert all(resolve(lr=0.4, schedule="constant").lr_at(p) == 0.4 for p in (0, 0.5, 1))


def test_each_cell_has_its_schedule_and_a_bad_one_is_refused():
    assert resolve().schedule == "constant"        # the book's RNN recipe keeps its lr
    assert resolve(cell="lstm").schedule == "cosine"
    assert resolve(cell="lstm", schedule="constant").schedule == "constant"
    with pytest.raises(ConfigError, match="schedule 'linear': use one of: constant, cosine"):
        resolve(schedule="linear").validate()


def test_every_step_trains_at_the_scheduled_rate():
    run = trainer(cell="gru", optimizer="adam")
    assert run.config.schedule == "cosine"
    steps = [r for r in run.run() if isinstance(r, StepRecord)]
    total = run.config.epochs * run.steps_per_epoch
    assert len(steps) == total  # this text has no spare tokens for a random offset to take away
    for k, record in enumerate(steps):
        assert record.lr == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * k / total)))
    assert steps[0].lr == 0.01 and all(a.lr > b.lr for a, b in zip(steps, steps[1:]))
    constant = trainer(cell="gru", optimizer="adam", schedule="constant")
    assert {r.lr for r in constant.run() if isinstance(r, StepRecord)} == {0.01}


def test_a_time_budget_is_the_schedules_clock():
    run = trainer(cell="lstm", epochs=1000, time_budget=10.0)
    assert run.progress() == 0
    run.elapsed = 2.5
    assert run.progress() == 0.25 and run.current_lr() == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi / 4)))
    run.elapsed = 12.0
    assert run.progress() == 1 and run.current_lr() == 0


def test_a_resumed_run_continues_the_schedule(tmp_path):
    straight = trainer(cell="gru", optimizer="adam")
    expected = [(r.loss, r.lr) for r in straight.run() if isinstance(r, StepRecord)]
    first = trainer(cell="gru", optimizer="adam")
    got = []
    for record in first.run():
        got.append((record.loss, record.lr))
        if len(got) == 7:
            break
    first.save(tmp_path / "gru.safetensors")
    corpus, _ = corpus_from_text(TEXT)
    resumed = Trainer.load(tmp_path / "gru.safetensors", corpus=corpus)
    assert resumed.config.schedule == "cosine"
    got += [(r.loss, r.lr) for r in resumed.run() if isinstance(r, StepRecord)]
    assert got == expected


def test_the_cli_option():
    parser = build_parser()
    args = parser.parse_args(["train", "--cell", "lstm", "--schedule", "constant"])
    assert train_config_from_args(args).schedule == "constant"
    assert train_config_from_args(parser.parse_args(["train", "--cell", "gru"])).schedule == "cosine"
    # a time budget alone is the run's length: no epoch limit cuts it (or its schedule) short
    budget = train_config_from_args(parser.parse_args(["train", "--cell", "lstm", "--time-budget", "300"]))
    assert budget.epochs == 10 ** 6 and budget.time_budget == 300
    both = train_config_from_args(parser.parse_args(["train", "--time-budget", "300", "--epochs", "5"]))
    assert both.epochs == 5
