"""Messages that carry engine results from thread workers to the widgets.

Workers never touch widgets: they post one of these (``post_message`` is
thread-safe) and an ``@on`` handler on the UI thread updates the screen.
High-rate data is batched by time before it is posted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class CorpusLoaded(Message):
    """A source (None: the default), its ``engine.corpus.Source`` (found and checked, not held in
    memory) and its ``CorpusStats`` at one token level."""

    source: str | None
    text: Any
    stats: Any


@dataclass
class CorpusProgress(Message):
    """The corpus worker has done ``done`` of ``total`` of ``stage`` (preparing, counting n-grams)."""

    stage: str
    done: int
    total: int


@dataclass
class RunReady(Message):
    """A trainer was built, or loaded from the checkpoint at ``path``: its facts as plain data
    (``info``, an ``engine.records.RunInfo``), and the trainer itself as a handle that the pane
    passes to thread workers and never reads."""

    info: Any
    trainer: Any
    path: str = ""


@dataclass
class Saved(Message):
    """Run ``run`` was saved to ``path`` as it was after ``global_step`` minibatches and ``epoch``
    finished epochs."""

    path: str
    run: int
    global_step: int
    epoch: int
    then_quit: bool = False


@dataclass
class TrainingTick(Message):
    """Run ``run``'s step and epoch records of the last ~0.25 s, and a gradient-flow sample if one
    was taken."""

    run: int
    steps: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    flow: list[float] | None = None


@dataclass
class TrainingPaused(Message):
    """Run ``run``'s training thread stopped asking for records (``paused``), or asks again."""

    run: int
    paused: bool


@dataclass
class TrainingEnded(Message):
    """Run ``run``'s training loop returned: finished, stopped (or out of time), or failed (the
    error is notified separately)."""

    run: int
    stopped: bool


@dataclass
class Notice(Message):
    """A warning from a thread worker for the user (e.g. prefix tokens not in the vocabulary, a
    metrics log that could not be written)."""

    text: str


@dataclass
class ForecastEpoch(Message):
    """The Forecast pane's MLP finished an epoch of run ``run``."""

    run: int
    epoch: int
    loss: float


@dataclass
class ForecastTrained(Message):
    """The Forecast pane's run ``run`` finished; ``result`` is an ``engine.forecast.ForecastResult``."""

    run: int
    result: Any


@dataclass
class GeneratedChunk(Message):
    """Text produced in the last ~40 ms by generation ``run``."""

    run: int
    text: str


@dataclass
class GenerationEnded(Message):
    """Generation ``run`` ended; ``log_prob`` is the written text's total log-probability under the
    model (None when cancelled), ``candidates`` a beam search's (text, log-probability) pairs."""

    run: int
    cancelled: bool
    log_prob: float | None = None
    candidates: list = field(default_factory=list)


@dataclass
class Inspected(Message):
    """Inspection ``run`` read its text: the model it used (a detached snapshot), its token level
    ("char" or "word"), the top next tokens at every position (strings), the
    ``engine.inspect.Reading``, every unit ranked against the text's features, the gates'
    saturation (key -> (left, right) fractions), and the trainer's step."""

    run: int
    model: Any
    token: str
    tops: list
    reading: Any
    ranked: list
    saturation: dict
    step: int


@dataclass
class SaliencyReady(Message):
    """Saliency of every input up to position ``t`` (a list of floats) for the reading of
    inspection ``run`` at trainer step ``step``."""

    run: int
    step: int
    t: int
    values: list
