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
class TrainerReady(Message):
    """A trainer was built or loaded; ``path`` is set when it came from a checkpoint."""

    trainer: Any
    path: str = ""


@dataclass
class Saved(Message):
    path: str
    then_quit: bool = False


@dataclass
class TrainingTick(Message):
    """The step and epoch records of the last ~0.25 s, and a gradient-flow sample if one was taken."""

    trainer: Any
    steps: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    flow: list[float] | None = None


@dataclass
class TrainingEnded(Message):
    """The training loop returned: finished, stopped, or failed (the error is notified separately)."""

    trainer: Any
    stopped: bool


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
