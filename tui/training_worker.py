"""The training pane's thread side: build, load, drive and save a ``Trainer`` in thread workers.

Only this side touches the trainer.  What the UI draws leaves here as messages of plain data
(tui.messages: RunReady with the run's RunInfo, TrainingTick with the records, TrainingPaused,
TrainingEnded, Saved); what the UI asks for arrives through a :class:`RunControl`, read between
records: the loop pauses by not asking ``Trainer.run()`` for the next record, and stops by
closing it.
"""
from __future__ import annotations

import os
import threading
import time

from textual.worker import get_current_worker

from tui.messages import Notice, RunReady, Saved, TrainingEnded, TrainingPaused, TrainingTick
from tui.worker_progress import ProgressPoster

TICK = 0.25         # seconds between metric messages from the training thread
FLOW_EVERY = 2.0    # seconds between gradient-flow samples (each costs about one training step)
PAUSE_POLL = 0.1    # seconds between cancellation checks while paused
# torch's intra-op threads in the app: one core stays free for the UI thread and generation
# (on a busy 2-core machine, two spinning OpenMP threads also slow training down many times over)
APP_THREADS = max(1, (os.cpu_count() or 2) - 1)


def trainer_class():
    """``engine.train.Trainer``, importing torch (slow: call it from a worker) with APP_THREADS."""
    import torch
    from engine.train import Trainer

    torch.set_num_threads(APP_THREADS)
    return Trainer


class RunControl:
    """What the UI asks of a running training loop: set from the UI thread, read by the training
    thread between records."""

    def __init__(self):
        self._go, self._stop = threading.Event(), threading.Event()
        self._go.set()

    def pause(self) -> None:
        self._go.clear()

    def resume(self) -> None:
        self._go.set()

    def stop(self) -> None:
        self._stop.set()
        self._go.set()  # a paused loop wakes up to end

    @property
    def pause_requested(self) -> bool:
        return not self._go.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self, cancelled) -> None:
        while not self._go.wait(PAUSE_POLL) and not cancelled():
            pass


def build(pane, config, text) -> None:
    """A trainer for ``config`` on ``text`` (the Corpus pane's engine.corpus.Source, whose token
    file is reused or made now)."""
    from engine.corpus import corpus_name
    from engine.tokenfile import load_corpus

    corpus, vocab = load_corpus(text, token=config.token, mode=config.mode, max_tokens=config.max_tokens,
                                progress=ProgressPoster(pane))
    trainer = trainer_class()(config, corpus, vocab, corpus_name=corpus_name(text))
    pane.post_message(RunReady(trainer.info(), trainer))


def load(pane, path: str, source: str | None) -> None:
    """The run saved at ``path``; ``source``: where its text is now, if it moved."""
    trainer = trainer_class().load(path, source=source, progress=ProgressPoster(pane))
    pane.post_message(RunReady(trainer.info(), trainer, path))


def save(pane, run: int, trainer, path: str, then_quit: bool) -> None:
    """Write the checkpoint (the trainer's lock makes this safe mid-training); a target that must
    not be written (a folder, a device, the corpus, a file that is not a checkpoint) is an error."""
    from engine.checkpoint_file import check_save_target

    check_save_target(path, corpus=trainer.corpus_name)
    saved = trainer.save(path)
    pane.post_message(Saved(path, run, saved["global_step"], saved["epoch"], then_quit))


def _open_log(pane, path: str | None):
    """The run's metrics log, or None (none asked for, or it cannot be written: the user is told,
    and training goes on without it)."""
    if path is None:
        return None
    from engine.metrics_log import LogError, MetricsLog

    try:
        return MetricsLog(path)
    except LogError as exc:
        pane.post_message(Notice(f"no metrics log for this run: {exc}"))
        return None


def train_loop(pane, run: int, trainer, control: RunControl, log_path: str | None) -> None:
    """Drive ``trainer.run()``: post its records in ~TICK-second batches (at once before a pause
    and at each epoch's end), and write each to the metrics log at ``log_path``."""
    from engine.train import EpochRecord, StepRecord

    worker = get_current_worker()
    log = _open_log(pane, log_path)
    records = trainer.run()
    steps, epochs, last = [], [], None
    sent = flowed = 0.0

    def write(record) -> None:
        nonlocal log
        if log is not None and log.write(record):
            pane.post_message(Notice(log.error))
            log = None

    try:
        write(trainer.info())
        for last in records:
            (steps if isinstance(last, StepRecord) else epochs).append(last)
            write(last)
            now, pausing = time.monotonic(), control.pause_requested
            if now - sent >= TICK or epochs or pausing or control.stop_requested:
                flow = None
                if now - flowed >= FLOW_EVERY and not pausing:
                    flow, flowed = trainer.gradient_flow(), now
                pane.post_message(TrainingTick(run, steps, epochs, flow))
                steps, epochs, sent = [], [], now
            if pausing:
                pane.post_message(TrainingPaused(run, True))
                control.wait_while_paused(lambda: worker.is_cancelled)
                pane.post_message(TrainingPaused(run, False))
            if control.stop_requested or worker.is_cancelled:
                break
    finally:
        records.close()  # stops after the step of the last record
        if log is not None:
            log.close()
        pane.post_message(TrainingTick(run, steps, epochs))
        finished = isinstance(last, EpochRecord) and last.epoch >= trainer.config.epochs
        pane.post_message(TrainingEnded(run, stopped=not finished))
