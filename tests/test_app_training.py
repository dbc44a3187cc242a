"""Training from the app: live metrics, pause/resume/stop, save and load, quitting mid-run.  The
UI thread never reads the trainer (the ui_thread_guard fixture); the tests may, as the reference."""
import pytest
import torch
from app_support import TINY, start_training, steps_seen, wait_for, wait_for_stats

from tui.app import create_app
from tui.widgets.gradients import GradientReadout
from tui.widgets.plots import PerplexityCurve

LONG = dict(TINY, epochs=1000)  # runs until stopped
pytestmark = pytest.mark.usefixtures("ui_thread_guard")

start = start_training


async def test_training_updates_curve_progress_and_gradient_readout(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await start(pilot, app)
        await wait_for(pilot, lambda: not app.training.running, what="the epoch to finish")
        trainer, curve = app.trainer, app.query_one(PerplexityCurve)
        # every step's record reached the curve, and the epoch's validation point too
        assert curve.steps == list(range(1, trainer.global_step + 1))
        assert len(curve.val) == 1 and curve.val[0] == trainer.best_val_perplexity
        assert curve.baseline is not None and curve.baseline[1] == app.stats["char"].best_baseline.val_perplexity
        readout = app.query_one(GradientReadout)
        assert len(readout.norms) == min(100, trainer.global_step)
        assert "θ 1" in str(readout.query_one("#grad-norm").render())
        assert "t=1" in str(readout.query_one("#grad-flow").render()) and "t=8" in str(
            readout.query_one("#grad-flow").render())
        status = str(app.query_one("#train-status").render())
        assert status.startswith("finished") and "tok/s" in status
        bar = app.query_one("#train-progress")
        assert bar.total == trainer.global_step and bar.progress == trainer.global_step
        assert app.query_one("#field-hidden").disabled  # a model's hyperparameters are fixed


async def test_a_time_budget_paces_the_progress_bar_and_the_status(tiny_corpus):
    """Under --time-budget the epochs have no limit: the bar and ETA follow the engine's progress."""
    app = create_app(corpus=str(tiny_corpus), given=dict(TINY, epochs=10 ** 6, time_budget=0.5))
    async with app.run_test(size=(120, 40)) as pilot:
        await start(pilot, app)
        await wait_for(pilot, lambda: not app.training.running, what="the budget to run out")
        trainer = app.trainer
        assert trainer.epoch < 10 ** 6 and trainer.elapsed >= 0.5
        bar = app.query_one("#train-progress")
        assert bar.total == 1.0 and bar.progress == trainer.progress() == 1.0
        assert app.training.position.global_step == trainer.global_step  # the records said where it is
        status = str(app.query_one("#train-status").render())
        assert "0.5 s budget" in status and "/1000000" not in status and "ETA 0:00" in status
        assert "0.5 s budget" in str(app.query_one("#train-config").render())


async def test_pause_resume_stop(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(pilot, app)
        trainer = app.trainer
        await pilot.press("f6")
        assert app.query_one("#train-resume").disabled is False
        await wait_for(pilot, lambda: app.training.paused, what="the training thread to pause")
        assert "paused" in str(app.query_one("#train-status").render())
        at_pause = trainer.global_step
        assert steps_seen(app) == at_pause  # every record before the pause was drawn
        await pilot.pause(0.5)
        assert trainer.global_step == at_pause  # it waits: no minibatch is asked for while paused
        await pilot.press("f6")
        await wait_for(pilot, lambda: steps_seen(app) > at_pause + 2, what="training to resume")
        assert not app.training.paused
        await pilot.press("f7")
        await wait_for(pilot, lambda: not app.training.running, what="stop")
        assert str(app.query_one("#train-status").render()).startswith("stopped")
        stopped_at = trainer.global_step
        assert steps_seen(app) == stopped_at
        # F5 continues the same run
        await pilot.press("f5")
        await wait_for(pilot, lambda: steps_seen(app) > stopped_at, what="training to continue")
        assert app.trainer is trainer
        await pilot.press("f7")
        await wait_for(pilot, lambda: not app.training.running, what="second stop")


async def test_save_reset_load_restores_the_weights(tiny_corpus, tmp_path):
    path = tmp_path / "ckpt" / "tiny.safetensors"
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await start(pilot, app)
        await pilot.press("f7")
        await wait_for(pilot, lambda: not app.training.running, what="stop")
        trainer = app.trainer
        assert trainer.dirty and app.training.dirty
        app.training.save(str(path))
        await wait_for(pilot, lambda: not app.training.dirty, what="save")
        assert not trainer.dirty
        assert path.is_file()
        weights = [p.detach().clone() for p in trainer.model.params]
        await pilot.press("ctrl+r")                      # saved: no question asked
        assert app.trainer is None and not app.query_one("#field-hidden").disabled
        app.training.load(str(path))
        await wait_for(pilot, lambda: app.trainer is not None, what="load")
        loaded = app.trainer
        assert loaded.global_step == trainer.global_step
        assert all(torch.equal(a, b) for a, b in zip(weights, loaded.model.params))
        assert app.query_one("#field-hidden").value == "16"


async def test_bad_hyperparameter_is_an_inline_error(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        app.query_one("#field-hidden").value = "0"
        await pilot.press("f5")
        assert "hidden 0" in str(app.query_one("#train-error").render())
        assert app.query_one("#field-hidden").has_class("-invalid-field")
        assert app.trainer is None and not app.training.running


async def test_failed_load_is_a_notification(tiny_corpus, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        app.training.load(str(bad))
        await wait_for(pilot, lambda: "bad.safetensors" in str(app.query_one("#train-error").render()),
                       what="the load error")
        # app.notify posts a message: the notification arrives a moment after the pane's line
        await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications), what="the notification")
        assert app.is_running and app.trainer is None


async def test_quit_during_training_stops_it_and_returns_promptly(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await start(pilot, app)
        await pilot.press("ctrl+q")
        assert app.training.pause_requested  # the dialog asks about unsaved training while the run waits
        await wait_for(pilot, lambda: app.training.paused, what="the run to wait")
        await pilot.click("#quit")
    await app.workers.wait_for_complete()  # the training thread has ended: nothing keeps the process up
    assert not any(w.is_running for w in app.workers)


async def test_checkpoint_preset_opens_the_app_with_that_run(tiny_corpus, tmp_path):
    from engine.config import resolve
    from engine.tokenfile import load_corpus
    from engine.train import Trainer

    corpus, vocab = load_corpus(str(tiny_corpus))
    trainer = Trainer(resolve(TINY), corpus, vocab, corpus_name=str(tiny_corpus))
    run = trainer.run()
    for _ in range(3):
        next(run)
    path = tmp_path / "preset.safetensors"
    trainer.save(path)
    app = create_app(checkpoint=str(path))  # no --corpus: the checkpoint's corpus is shown
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.trainer is not None, what="the checkpoint")
        assert app.training.info.global_step == 3 and app.query_one("#field-hidden").value == "16"
        await wait_for(pilot, lambda: app.corpus_text is not None and app.corpus_text.name == str(tiny_corpus),
                       what="the checkpoint's corpus statistics")
