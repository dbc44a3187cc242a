"""What a training run reports, as plain data (no torch): the records ``Trainer.run()`` yields,
and the facts about a run that do not change from step to step.

Everything a consumer draws or logs comes from these: the CLI's bar and summary, the app's
curve, status line and progress bar, the metrics log (engine.metrics_log), the benchmarks.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import TrainConfig


@dataclass(frozen=True)
class StepRecord:
    epoch: int               # 1-based
    step: int                # 1-based within the epoch
    steps_per_epoch: int
    global_step: int
    loss: float
    perplexity: float
    grad_norm: float         # before clipping
    clipped: bool
    tokens_per_sec: float    # over the epoch so far
    elapsed: float           # seconds of training, pauses excluded
    skipped: bool = False    # the loss or gradient was NaN or infinite: no update was made
    lr: float = 0.0          # the learning rate of this step (config.schedule)
    progress: float = 0.0    # how far the run is after this step, 0 to 1 (Trainer.progress)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_perplexity: float  # token-weighted over the epoch
    val_perplexity: float | None
    best_val_perplexity: float | None
    is_best: bool
    tokens_per_sec: float
    elapsed: float
    global_step: int = 0     # minibatches done when the epoch ended


@dataclass(frozen=True)
class RunInfo:
    """A trainer's facts when it was built or loaded: its configuration (a frozen copy), its text
    and vocabulary size, where it trains, and how far it already is."""

    config: TrainConfig
    corpus_name: str
    vocab_size: int
    device: str
    steps_per_epoch: int
    epoch: int = 0           # finished epochs
    global_step: int = 0     # finished minibatches
    elapsed: float = 0.0
    best_val_perplexity: float | None = None
    progress: float = 0.0
    notice: str = ""         # for the user, e.g. why the device differs from the checkpoint's


Record = StepRecord | EpochRecord
