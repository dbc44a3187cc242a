"""What the Training pane writes about a run, from plain data only (a RunInfo, the records): the
one-line summary of its configuration, and its status line and progress bar."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from engine.records import StepRecord


def duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def run_length(config) -> str:
    """What ends a run: its time budget (the epochs then are only a cap) or its epochs."""
    return f"{config.time_budget:g} s budget" if config.time_budget else f"{config.epochs} epochs"


def run_label(config) -> str:
    """How a run is named in the session comparison, e.g. ``lstm 512×1``."""
    return f"{config.cell} {config.hidden}×{config.layers}"


def config_summary(config) -> str:
    """The line that stands in for the locked form while a model exists."""
    return (f"{config.cell} · {config.layers} layer(s) · dropout {config.dropout:g} · "
            f"{config.token} · {config.iterator} · hidden {config.hidden} · steps {config.steps} · "
            f"batch {config.batch} · lr {config.lr:g} · θ {config.clip:g} · {config.optimizer} · "
            f"{run_length(config)} · {config.device}  (Reset to change)")


@dataclass
class Position:
    """How far a run is, as its records (or its RunInfo, before any) tell."""

    global_step: int = 0
    epochs: int = 0           # finished epochs
    progress: float = 0.0     # 0 to 1, the engine's (Trainer.progress)

    def after(self, record) -> "Position":
        """The position once ``record`` (a StepRecord or EpochRecord) is done."""
        if isinstance(record, StepRecord):
            return Position(record.global_step, record.epoch - 1, record.progress)
        return Position(record.global_step, record.epoch, self.progress)


def status(state: str, config, position: Position, last_step) -> tuple[Text, float, float]:
    """The status line, and the progress bar's total and progress: epochs and the step within
    the epoch, speed, learning rate and ETA, from the run's records alone."""
    epoch = min(position.epochs + 1, config.epochs)
    text = Text.assemble((state, "bold"), f" · epoch {epoch}" + (
        f" · {run_length(config)}" if config.time_budget else f"/{config.epochs}"))
    if last_step is None:  # built or loaded, no step yet: how far the run is (a loaded one's progress)
        return text, 1.0, position.progress
    if config.time_budget:  # the clock (or the epochs, if sooner) ends the run: the engine's progress
        total, done = 1.0, position.progress
        left = last_step.elapsed * (1 - done) / max(done, 1e-9)
    else:
        total, done = last_step.steps_per_epoch * config.epochs, position.global_step
        left = max(total - done, 0) * last_step.elapsed / max(last_step.global_step, 1)
    text.append(f" · step {last_step.step}/{last_step.steps_per_epoch} · {last_step.tokens_per_sec:,.0f} tok/s"
                f" · lr {last_step.lr:.2g} · ETA {duration(left)}")
    return text, total, done
