"""The Training pane: hyperparameters, Start/Pause/Resume/Stop/Reset/Save/Load, the perplexity
curve, progress, and the gradient readout.

The trainer lives in thread workers (tui/training_worker.py); this pane holds it only as a handle
to pass to them.  Everything drawn here comes in messages of plain data: the run's RunInfo when
it is built or loaded, then its records.
"""
from __future__ import annotations

from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, ProgressBar, Static
from textual.worker import Worker, WorkerState

from engine import paths
from engine.config import resolve
from engine.errors import ConfigError
from engine.escape import printable
from tui import training_worker
from tui.messages import CorpusProgress, RunReady, Saved, TrainingEnded, TrainingPaused, TrainingTick
from tui.notify import error_line, notify_error
from tui.save_checks import save_after_checks
from tui.screens.dialogs import PathDialog, discard_dialog
from tui.widgets.gradients import GradientReadout
from tui.widgets.plots import PerplexityCurve, SessionCurves
from tui.widgets.run_status import Position, config_summary, run_label, status
from tui.widgets.train_form import TrainForm

BUTTONS = ("start", "pause", "resume", "stop", "reset", "save", "load", "compare")


class TrainingPane(Vertical):
    """Owns the run's state as the UI knows it; every widget update happens here, on the UI thread."""

    BORDER_TITLE = "Training"

    def __init__(self, given=None, checkpoint: str | None = None, corpus: str | None = None, **kwargs):
        """``given``: the training options given on the command line (they preset the form);
        ``checkpoint``: a run to load at once; ``corpus``: where its text is now, if it moved."""
        super().__init__(**kwargs)
        self.given = dict(given or {})
        self.preset_config = resolve(self.given)
        self.preset_checkpoint, self.preset_corpus = checkpoint, corpus
        self.trainer = None          # a handle for thread workers; never read here
        self.info = None             # the current run's engine.records.RunInfo
        self.run_number = 0          # counts the trainers of this session (built or loaded)
        self.running = False         # a training worker is alive
        self.control: training_worker.RunControl | None = None
        self.paused = False          # the training thread said it waits (TrainingPaused)
        self.position = Position()   # how far the run is, from its records
        self.saved_at: tuple[int, int] | None = None  # (global_step, epochs) of the last save or load
        self.last_step = None
        self.log_path: str | None = None  # the run's metrics log
        self.comparing = False       # the session's validation curves stand in for this run's curve
        self._start_when_ready = False

    def compose(self) -> ComposeResult:
        yield TrainForm(self.given, id="train-form")
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
        self.query_one(GradientReadout).reset(self.preset_config.clip)
        self.query_one(SessionCurves).display = False
        self._sync_buttons()
        if self.preset_checkpoint:
            self.load(self.preset_checkpoint, source=self.preset_corpus)

    def warm_up(self) -> None:
        """Import torch and the trainer in a thread, so that the first Start does not wait for them."""
        self.run_worker(training_worker.trainer_class, name="import torch", group="warm-up", thread=True,
                        exit_on_error=False)

    @property
    def dirty(self) -> bool:
        """The run trained (or changed) since it was built, loaded or last saved, as its records tell."""
        return self.info is not None and (self.position.global_step, self.position.epochs) != self.saved_at

    @property
    def pause_requested(self) -> bool:
        return self.control is not None and self.control.pause_requested

    @property
    def run_config(self):
        """The current run's configuration, or the preset one before any run."""
        return self.info.config if self.info is not None else self.preset_config

    # ---------------------------------------------------------- actions ----

    def start(self) -> None:
        """Start, or resume a paused or stopped run; a new trainer is built from the form first."""
        if self.running:
            if self.pause_requested:
                self.resume()
            return
        if self.trainer is not None:
            self._run()
            return
        try:
            config = self.query_one(TrainForm).config()
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
        self.run_worker(partial(training_worker.build, self, config, text), name="build model", group="trainer",
                        thread=True, exclusive=True, exit_on_error=False)

    def _run(self) -> None:
        if self.log_path is None:
            self.log_path = str(paths.new_run_log(self.info.corpus_name, self.info.config.token))
            self.app.notify(f"metrics log: {printable(self.log_path)} (rnnplay log PATH reads it)",
                            title="training", markup=False)
        self.running, self.paused, self.control = True, False, training_worker.RunControl()
        self._error("")
        self.run_worker(partial(training_worker.train_loop, self, self.run_number, self.trainer, self.control,
                                self.log_path), name="training", group="training", thread=True, exit_on_error=False)
        self._show_status()
        self._sync_buttons()

    def pause(self) -> None:
        if self.running and not self.pause_requested:
            self.control.pause()
            self._show_status()
            self._sync_buttons()

    def resume(self) -> None:
        if self.running and self.pause_requested:
            self.control.resume()
            self._show_status()
            self._sync_buttons()

    def toggle_pause(self) -> None:
        if self.pause_requested:
            self.resume()
        else:
            self.pause()

    def stop(self) -> None:
        if self.running:
            self.control.stop()

    def reset(self) -> None:
        """Discard the trainer (asking first when its training is unsaved) and unlock the form."""
        if self.dirty:
            self.app.push_screen(discard_dialog(), lambda choice: choice and self._discard())
        else:
            self._discard()

    def _discard(self) -> None:
        self.stop()
        self.trainer = self.info = self.last_step = self.saved_at = self.log_path = None
        self.running, self.position = False, Position()  # the old loop may still post: its run number is old
        self._lock_form(None)
        self.query_one(PerplexityCurve).clear()
        self.show_baseline()
        self.query_one(GradientReadout).reset(self.preset_config.clip)
        self.query_one(ProgressBar).update(total=1, progress=0)
        self.query_one("#train-status", Static).update("reset: edit the hyperparameters, then F5 or Start")
        self._sync_buttons()

    def ask_save(self) -> None:
        if self.info is None:
            self.app.notify("nothing to save yet: train (F5) or load a checkpoint first", severity="warning")
            return
        self.app.push_screen(PathDialog("Save the training state to:", self.default_checkpoint()),
                             lambda path: path and save_after_checks(self, path))

    def default_checkpoint(self) -> str:
        return str(paths.default_checkpoint(self.info.corpus_name, self.info.config.token))

    def save(self, path: str | None = None, *, then_quit: bool = False) -> None:
        """Write a checkpoint in a thread; a target that must not be written is an error notice,
        and the app stays open."""
        self.run_worker(partial(training_worker.save, self, self.run_number, self.trainer,
                                path or self.default_checkpoint(), then_quit),
                        name="save", group="io", thread=True, exit_on_error=False)

    def ask_load(self) -> None:
        if self.running:
            self.app.notify("stop training (F7) before loading a checkpoint", severity="warning")
            return
        self.app.push_screen(PathDialog("Load a checkpoint from:", str(paths.checkpoint_dir()) + "/"),
                             lambda path: path and self.load(path))

    def load(self, path: str, *, source: str | None = None) -> None:
        """Load a checkpoint in a thread; ``source``: where the run's text is now, if it moved."""
        self.query_one("#train-status", Static).update(f"loading {printable(path)}…")
        self.run_worker(partial(training_worker.load, self, path, source), name="load", group="trainer",
                        thread=True, exclusive=True, exit_on_error=False)

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

    @on(CorpusProgress)
    def _preparing(self, message: CorpusProgress) -> None:
        """A build or load that prepares a token file (another token level, a moved or large text)
        shows how far it is on the run's bar; the run's own status replaces it when it is ready."""
        self.query_one("#train-progress", ProgressBar).update(total=max(message.total, 1), progress=message.done)
        self.query_one("#train-status", Static).update(f"{message.stage}…")

    @on(RunReady)
    def _ready(self, message: RunReady) -> None:
        info = self.info = message.info
        self.trainer, self.run_number, self.log_path = message.trainer, self.run_number + 1, None
        self.position = Position(info.global_step, info.epoch, info.progress)
        self.saved_at, self.last_step = (info.global_step, info.epoch), None
        form = self.query_one(TrainForm)
        form.fill(info.config, None if message.path else form.given)
        self._lock_form(info.config)
        self.query_one(PerplexityCurve).clear()
        self.query_one(GradientReadout).reset(info.config.clip)
        self.show_baseline()
        if message.path:
            self.app.notify(f"loaded {printable(message.path)}: epoch {info.epoch}, step {info.global_step}",
                            title="checkpoint", markup=False)
        self._show_status()
        self._sync_buttons()
        if self._start_when_ready:
            self._start_when_ready = False
            self._run()

    @on(TrainingTick)
    def _tick(self, message: TrainingTick) -> None:
        message.stop()
        if message.run != self.run_number or self.info is None:  # from a run that Reset discarded
            return
        for record in (*message.steps, *message.epochs):
            self.position = self.position.after(record)
        if message.steps:
            self.last_step = message.steps[-1]
        # a skipped step (NaN or infinite loss or gradient) made no update and has nothing to plot
        steps = [record for record in message.steps if not record.skipped]
        if len(steps) < len(message.steps):
            self.notify(f"{len(message.steps) - len(steps)} step(s) skipped: the loss or gradient was not "
                        f"finite; lower the learning rate if this goes on", severity="warning")
        config = self.info.config
        self.query_one(PerplexityCurve).add(steps, message.epochs)
        readout = self.query_one(GradientReadout)
        readout.add(steps)
        if message.flow:
            readout.show_flow(message.flow, config.cell)
        for record in message.epochs:
            if record.val_perplexity is not None:
                self.query_one(SessionCurves).add(self.run_number, run_label(config), record)
            if record.val_perplexity is not None and record.is_best:
                self.query_one("#train-curve").border_subtitle = f"best validation {record.val_perplexity:.2f}"
        self._show_status()

    @on(TrainingPaused)
    def _paused(self, message: TrainingPaused) -> None:
        message.stop()
        if message.run == self.run_number and self.running:
            self.paused = message.paused
            self._show_status()

    @on(TrainingEnded)
    def _ended(self, message: TrainingEnded) -> None:
        message.stop()
        if message.run != self.run_number or not self.running:
            return
        self.running, self.paused, self.control = False, False, None
        self._show_status(ended="stopped" if message.stopped else "finished")
        self._sync_buttons()

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        if message.run == self.run_number:  # records that came after the copy keep the run dirty
            self.saved_at = (message.global_step, message.epoch)
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
            summary.update(config_summary(config))

    def show_baseline(self) -> None:
        """Draw the best n-gram model of the training token level as the line to beat."""
        stats = self.app.stats.get(self.run_config.token)
        if stats is not None:
            best = stats.best_baseline
            self.query_one(PerplexityCurve).set_baseline(f"{best.n}-gram {best.val_perplexity:.2f}",
                                                         best.val_perplexity)

    def _show_status(self, ended: str = "") -> None:
        if self.info is None:
            return
        if ended:
            state = ended
        elif self.running:
            state = "paused" if self.paused else "pausing…" if self.pause_requested else "training"
        else:
            state = "ready"
        text, total, done = status(state, self.info.config, self.position, self.last_step)
        self.query_one("#train-progress", ProgressBar).update(total=total, progress=done)
        self.query_one("#train-status", Static).update(text, layout=False)  # fixed height: no reflow

    def _sync_buttons(self) -> None:
        running, paused, exists = self.running, self.pause_requested, self.info is not None
        enabled = {
            "start": not running, "pause": running and not paused, "resume": running and paused,
            "stop": running, "reset": exists, "save": exists, "load": not running, "compare": True,
        }
        for name, on_ in enabled.items():
            self.query_one(f"#train-{name}", Button).disabled = not on_
