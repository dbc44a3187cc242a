"""A progress bar on stderr for long engine work (preparing a corpus, counting its n-grams).

The engine reports ``engine.tokenfile.Progress`` records; the bar appears only once the work has
taken a second, so a cached corpus or a small text prints nothing.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

SHOW_AFTER = 1.0  # seconds of work before the bar appears


class DelayedBar:
    """A callable for ``progress=``: draws a rich bar on a terminal once ``SHOW_AFTER`` seconds
    have passed (a pipe or a log file gets nothing)."""

    def __init__(self, console=None, show_after: float = SHOW_AFTER):
        from rich.console import Console

        self.console, self.show_after = console or Console(stderr=True), show_after
        self.start = time.monotonic()
        self.progress = self.task = None

    def __call__(self, record) -> None:
        if self.progress is None:
            if time.monotonic() - self.start < self.show_after or not self.console.is_terminal:
                return
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn()]
            self.progress = Progress(*columns, console=self.console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task(record.stage, total=record.total)
        self.progress.update(self.task, description=record.stage, completed=record.done, total=record.total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def progress_bar(console=None):
    """``with progress_bar() as progress: engine_work(..., progress=progress)``."""
    bar = DelayedBar(console)
    try:
        yield bar
    finally:
        bar.close()
