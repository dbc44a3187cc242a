"""The engine's ``progress=`` callback for a thread worker: a CorpusProgress message a few times a
second for the pane that started the work (preparing a token file, counting n-grams), and the end
of the work once the worker is cancelled."""
from __future__ import annotations

import time

from textual.worker import get_current_worker

from tui.messages import CorpusProgress

PROGRESS_EVERY = 0.1  # seconds between progress messages


class Cancelled(Exception):
    """Raised inside the worker when it was cancelled (a newer load took over): the work stops at
    its next chunk."""


class ProgressPoster:
    """Call it from the worker thread (the engine does, once per chunk of work)."""

    def __init__(self, pane):
        self.pane, self.worker, self.last = pane, get_current_worker(), 0.0

    def __call__(self, record) -> None:
        if self.worker.is_cancelled:
            raise Cancelled
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            self.pane.post_message(CorpusProgress(record.stage, record.done, record.total))
