"""The Training pane: hyperparameters, Start/Pause/Resume/Stop/Reset/Save/Load, the perplexity
curve, progress, and the gradient readout, all fed by ``Trainer.run()`` in a thread worker."""
from __future__ import annotations

import os
import time
from functools import partial

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from engine import paths
from engine.corpus import corpus_name
from engine.errors import ConfigError
from engine.escape import printable
from tui.messages import Saved, TrainerReady, TrainingEnded, TrainingTick
from tui.notify import error_line, notify_error
from tui.save_checks import save_after_checks
from tui.screens.dialogs import PathDialog, discard_dialog
from tui.widgets.gradients import GradientReadout
from tui.widgets.plots import PerplexityCurve, SessionCurves
from tui.widgets.train_form import TrainForm

TICK = 0.25         # seconds between metric messages from the training thread
FLOW_EVERY = 2.0    # seconds between gradient-flow samples (each costs about one training step)
BUTTONS = ("start", "pause", "resume", "stop", "reset", "save", "load", "compare")
# torch's intra-op threads in the app: one core stays free for the UI thread and generation
# (on a busy 2-core machine, two spinning OpenMP threads also slow training down many times over)
APP_THREADS = max(1, (os.cpu_count() or 2) - 1)


def trainer_class():
    """``engine.train.Trainer``, importing torch (slow: call it from a worker) with APP_THREADS."""
    import torch
    from engine.train import Trainer

    torch.set_num_threads(APP_THREADS)
    return Trainer


def duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def default_checkpoint(trainer) -> str:
    return str(paths.default_checkpoint(trainer.corpus_name, trainer.config.token))


def run_label(config) -> str:
    """How a run is named in the session comparison, e.g. ``lstm 512×1``."""
    return f"{config.cell} {config.hidden}×{config.layers}"


def train_loop(pane, trainer) -> None:
    """Runs in a thread: drive ``trainer.run()`` and post the records in ~TICK-second batches."""
    from engine.train import StepRecord

    worker = get_current_worker()
    steps, epochs = [], []
    sent = flowed = 0.0
    try:
        for record in trainer.run():
            (steps if isinstance(record, StepRecord) else epochs).append(record)
            if worker.is_cancelled:
                trainer.stop()
            now = time.monotonic()
            # flush at once before a pause blocks the loop, and at each epoch's end
            if now - sent >= TICK or epochs or trainer.paused:
                flow = None
                if now - flowed >= FLOW_EVERY and not trainer.paused:
                    flow, flowed = trainer.gradient_flow(), now
                pane.post_message(TrainingTick(trainer, steps, epochs, flow))
                steps, epochs, sent = [], [], now
    finally:
        pane.post_message(TrainingTick(trainer, steps, epochs))
        pane.post_message(TrainingEnded(trainer, stopped=trainer.stopped))


def _run_length(config) -> str:
    """What ends a run: its time budget (the epochs then are only a cap) or its epochs."""
    return f"{config.time_budget:g} s budget" if config.time_budget else f"{config.epochs} epochs"


class TrainingPane(Vertical):
    """Owns the Trainer; every widget update happens here, on the UI thread."""

    BORDER_TITLE = "Training"

    def __init__(self, config=None, checkpoint: str | None = None, corpus: str | None = None, **kwargs):
        """``checkpoint``: a run to load at once; ``corpus``: where its text is now, if it moved."""
        super().__init__(**kwargs)
        from engine.config import TrainConfig

        self.base_config = config or TrainConfig()
        self.preset_checkpoint, self.preset_corpus = checkpoint, corpus
        self.trainer = None
        self.running = False        # a training worker is alive
        self._start_when_ready = False
        self._last_step = None
        self.comparing = False      # the session's validation curves stand in for this run's curve
        self.run_number = 0         # counts the trainers of this session (built or loaded)

    def compose(self) -> ComposeResult:
        yield TrainForm(id="train-form")
        yield Static(id="train-config")  # replaces the form while a model exists: room for the curve
        with Horizontal(id="train-buttons"):
            for name in BUTTONS:
                yield Button(name.capitalize(), id=f"train-{name}", compact=True)
        yield Static(id="train-error", classes="error", markup=False)  # error lines hold [brackets]
        yield PerplexityCurve(id="train-curve")
        yield SessionCurves(id="train-session")
        with Horizontal(id="train-progress-row"):
            # a total from the start: an indeterminate bar animates, and that costs CPU all the time
            yield ProgressBar(total=1, show_eta=False, show_percentage=True, id="train-progress")
        yield Static("not started: press F5 or Start", id="train-status", markup=False)  # "loading PATH…"
        yield GradientReadout(id="train-gradients")

    def on_mount(self) -> None:
        self.query_one(TrainForm).fill(self.base_config)
        self.query_one(GradientReadout).reset(self.base_config.clip)
        self.query_one(SessionCurves).display = False
        self._sync_buttons()
        if self.preset_checkpoint:
            self.load(self.preset_checkpoint, source=self.preset_corpus)

    def warm_up(self) -> None:
        """Import torch and the trainer in a thread, so that the first Start does not wait for them."""
        self.run_worker(trainer_class, name="import torch", group="warm-up", thread=True, exit_on_error=False)

    # ---------------------------------------------------------- actions ----

    def start(self) -> None:
        """Start, or resume a paused or stopped run; a new trainer is built from the form first."""
        if self.running:
            if self.trainer.paused:
                self.resume()
            return
        if self.trainer is not None:
            self._run()
            return
        try:
            config = self.query_one(TrainForm).config(self.base_config)
        except ConfigError as exc:  # the form's only error: a field that is not a number, or out of range
            self._error(error_line(exc))
            return
        text = self.app.corpus_text
        if text is None:
            self._error("no corpus yet: wait for the Corpus pane, or switch to a readable corpus there")
            return
        self._error("")
        self._start_when_ready = True
        self.query_one("#train-status", Static).update("building the model…")
        self.run_worker(partial(self._build, config, text), name="build model", group="trainer",
                        thread=True, exclusive=True, exit_on_error=False)

    def _build(self, config, text) -> None:
        from engine.tokenfile import load_corpus

        # text: the Corpus pane's engine.corpus.Source; its token file is reused (or made now)
        corpus, vocab = load_corpus(text, token=config.token, mode=config.mode, max_tokens=config.max_tokens)
        self.post_message(TrainerReady(trainer_class()(config, corpus, vocab, corpus_name=corpus_name(text))))

    def _run(self) -> None:
        self.running = True
        self._error("")
        self.run_worker(partial(train_loop, self, self.trainer), name="training", group="training",
                        thread=True, exit_on_error=False)
        self._show_status()
        self._sync_buttons()

    def pause(self) -> None:
        if self.running and not self.trainer.paused:
            self.trainer.pause()
            self._show_status()
            self._sync_buttons()

    def resume(self) -> None:
        if self.running and self.trainer.paused:
            self.trainer.resume()
            self._show_status()
            self._sync_buttons()

    def toggle_pause(self) -> None:
        if self.running and self.trainer.paused:
            self.resume()
        else:
            self.pause()

    def stop(self) -> None:
        if self.trainer is not None and self.running:
            self.trainer.stop()

    def reset(self) -> None:
        """Discard the trainer (asking first when its training is unsaved) and unlock the form."""
        if self.trainer is not None and self.trainer.dirty:
            self.app.push_screen(discard_dialog(), lambda choice: choice and self._discard())
        else:
            self._discard()

    def _discard(self) -> None:
        self.stop()
        self.trainer = None
        self.running = False  # the old loop may still post; its messages name the old trainer
        self._last_step = None
        self._lock_form(None)
        self.query_one(PerplexityCurve).clear()
        self.show_baseline()
        self.query_one(GradientReadout).reset(self.base_config.clip)
        self.query_one(ProgressBar).update(total=1, progress=0)
        self.query_one("#train-status", Static).update("reset: edit the hyperparameters, then F5 or Start")
        self._sync_buttons()

    def ask_save(self) -> None:
        if self.trainer is None:
            self.app.notify("nothing to save yet: train (F5) or load a checkpoint first", severity="warning")
            return
        self.app.push_screen(PathDialog("Save the training state to:", default_checkpoint(self.trainer)),
                             lambda path: path and save_after_checks(self, path))

    def save(self, path: str | None = None, *, then_quit: bool = False) -> None:
        """Write a checkpoint in a thread (the trainer's lock makes this safe mid-training); a
        target that must not be written (a folder, a device, the corpus, a file that is not a
        checkpoint) is an error notice, and the app stays open."""
        from engine.checkpoint_file import check_save_target

        path = path or default_checkpoint(self.trainer)
        trainer = self.trainer

        def write() -> None:
            check_save_target(path, corpus=trainer.corpus_name)
            trainer.save(path)
            self.post_message(Saved(path, then_quit))

        self.run_worker(write, name="save", group="io", thread=True, exit_on_error=False)

    def ask_load(self) -> None:
        if self.running:
            self.app.notify("stop training (F7) before loading a checkpoint", severity="warning")
            return
        from engine.paths import checkpoint_dir

        self.app.push_screen(PathDialog("Load a checkpoint from:", str(checkpoint_dir()) + "/"),
                             lambda path: path and self.load(path))

    def load(self, path: str, *, source: str | None = None) -> None:
        """Load a checkpoint in a thread; ``source``: where the run's text is now, if it moved."""
        self.query_one("#train-status", Static).update(f"loading {printable(path)}…")

        def read() -> None:
            self.post_message(TrainerReady(trainer_class().load(path, source=source), path))

        self.run_worker(read, name="load", group="trainer", thread=True, exclusive=True, exit_on_error=False)

    # --------------------------------------------------------- messages ----

    @on(Button.Pressed, "#train-buttons Button")
    def _button(self, event: Button.Pressed) -> None:
        action = event.button.id.removeprefix("train-")
        {"start": self.start, "pause": self.pause, "resume": self.resume, "stop": self.stop,
         "reset": self.reset, "save": self.ask_save, "load": self.ask_load,
         "compare": self.toggle_compare}[action]()

    def toggle_compare(self) -> None:
        """Show the validation curves of every run of this session in place of this run's curve."""
        self.comparing = not self.comparing
        self.query_one(SessionCurves).display = self.comparing
        self.query_one(PerplexityCurve).display = not self.comparing
        self.query_one("#train-compare", Button).label = "This run" if self.comparing else "Compare"
        if self.comparing:
            self.query_one(SessionCurves).redraw(force=True)

    @on(TrainerReady)
    def _ready(self, message: TrainerReady) -> None:
        trainer = self.trainer = message.trainer
        self.run_number += 1
        self.query_one(TrainForm).fill(trainer.config)
        self._lock_form(trainer.config)
        self.query_one(PerplexityCurve).clear()
        self.query_one(GradientReadout).reset(trainer.config.clip)
        self.show_baseline()
        if message.path:
            self.app.notify(f"loaded {printable(message.path)}: epoch {trainer.epoch}, step {trainer.global_step}",
                            title="checkpoint", markup=False)
        self._show_status()
        self._sync_buttons()
        if self._start_when_ready:
            self._start_when_ready = False
            self._run()

    @on(TrainingTick)
    def _tick(self, message: TrainingTick) -> None:
        message.stop()
        trainer = self.trainer
        if message.trainer is not trainer:  # a tick from a run that Reset discarded
            return
        if message.steps:
            self._last_step = message.steps[-1]
        # a skipped step (NaN or infinite loss or gradient) made no update and has nothing to plot
        steps = [record for record in message.steps if not record.skipped]
        if len(steps) < len(message.steps):
            self.notify(f"{len(message.steps) - len(steps)} step(s) skipped: the loss or gradient was not "
                        f"finite; lower the learning rate if this goes on", severity="warning")
        self.query_one(PerplexityCurve).add(steps, message.epochs, trainer.global_step)
        readout = self.query_one(GradientReadout)
        readout.add(steps)
        if message.flow:
            readout.show_flow(message.flow, trainer.config.cell)
        for record in message.epochs:
            if record.val_perplexity is not None:
                self.query_one(SessionCurves).add(self.run_number, run_label(trainer.config), record)
            if record.val_perplexity is not None and record.is_best:
                self.query_one("#train-curve").border_subtitle = f"best validation {record.val_perplexity:.2f}"
        self._show_status()

    @on(TrainingEnded)
    def _ended(self, message: TrainingEnded) -> None:
        message.stop()
        if message.trainer is not self.trainer:
            return
        self.running = False
        self._show_status(ended="stopped" if message.stopped else "finished")
        self._sync_buttons()

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self.app.notify(f"saved {printable(message.path)}", title="checkpoint", markup=False)
        if message.then_quit:
            self.app.shut_down()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        name = event.worker.name
        line = notify_error(self, event.worker.error, title=name)
        if name == "build model":
            self._start_when_ready = False
            self._lock_form(None)
        if name in ("build model", "training", "load"):
            self._error(line)
            self._show_status(ended="failed")

    # ---------------------------------------------------------- display ----

    def _error(self, line: str) -> None:
        error = self.query_one("#train-error", Static)
        error.update(line)
        error.display = bool(line)

    def _lock_form(self, config) -> None:
        """With a model (``config``), a one-line summary stands in for the locked form; None unlocks."""
        form, summary = self.query_one(TrainForm), self.query_one("#train-config", Static)
        form.set_locked(config is not None)
        form.display, summary.display = config is None, config is not None
        if config is not None:
            summary.update(
                f"{config.cell} · {config.layers} layer(s) · dropout {config.dropout:g} · "
                f"{config.token} · {config.iterator} · hidden {config.hidden} · steps {config.steps} · "
                f"batch {config.batch} · lr {config.lr:g} · θ {config.clip:g} · {config.optimizer} · "
                f"{_run_length(config)} · {config.device}  (Reset to change)")

    def show_baseline(self) -> None:
        """Draw the best n-gram model of the training token level as the line to beat."""
        token = self.trainer.config.token if self.trainer else self.base_config.token
        stats = self.app.stats.get(token)
        if stats is not None:
            best = stats.best_baseline
            self.query_one(PerplexityCurve).set_baseline(f"{best.n}-gram {best.val_perplexity:.2f}",
                                                         best.val_perplexity)

    def _show_status(self, ended: str = "") -> None:
        trainer, record = self.trainer, self._last_step
        if trainer is None:
            return
        cfg = trainer.config
        if ended:
            state = ended
        elif self.running:
            state = "paused" if trainer.paused else "training"
        else:
            state = "ready"
        bar = self.query_one(ProgressBar)
        epoch = min(trainer.epoch + 1, cfg.epochs)
        text = Text.assemble((state, "bold"), f" · epoch {epoch}" + (
            f" · {_run_length(cfg)}" if cfg.time_budget else f"/{cfg.epochs}"))
        if record is not None:
            if cfg.time_budget:  # the clock (or the epochs, if sooner) ends the run: the engine's progress
                done = trainer.progress()
                bar.update(total=1.0, progress=done)
                left = record.elapsed * (1 - done) / max(done, 1e-9)
            else:
                total = record.steps_per_epoch * cfg.epochs
                bar.update(total=total, progress=trainer.global_step)
                left = max(total - trainer.global_step, 0) * record.elapsed / max(record.global_step, 1)
            text.append(f" · step {record.step}/{record.steps_per_epoch} · {record.tokens_per_sec:,.0f} tok/s"
                        f" · lr {record.lr:.2g} · ETA {duration(left)}")
        self.query_one("#train-status", Static).update(text, layout=False)  # fixed height: no reflow

    def _sync_buttons(self) -> None:
        running, trainer = self.running, self.trainer
        paused = running and trainer.paused
        enabled = {
            "start": not running, "pause": running and not paused, "resume": paused,
            "stop": running, "reset": trainer is not None, "save": trainer is not None, "load": not running,
            "compare": True,
        }
        for name, on_ in enabled.items():
            self.query_one(f"#train-{name}", Button).disabled = not on_
