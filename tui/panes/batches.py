"""The Batches tab: how the text is cut into minibatches (engine.minibatches; seed notes "长序列数据").

Each row of X is shown as text with Y, the same text shifted by one, under it (column j of Y is
what column j of X must predict), with where it starts in the training text.  The minibatches are
the engine's own iterators' with the run's seed; New draw shows another draw (another random
offset).  Computed in a thread worker: building the corpus and importing torch take a moment.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from tui.notify import error_line

MAX_SHOWN_ROWS = 400   # rows drawn at most (count x B can be large)
RUN = "run"            # the Select value for "the iterator of the run"


@dataclass
class BatchesComputed(Message):
    """The first minibatches (``engine.minibatches.MinibatchRow`` lists) with each row's X and Y as text."""

    minibatches: list
    texts: dict          # (batch, row) -> (X text, Y text)
    batch: int
    steps: int
    iterator: str
    seed: int
    draw: int
    from_run: bool       # a trainer's configuration, not the one the app started with


_CORPUS: dict = {}  # (id(source), token, mode, max_tokens) -> (source, corpus): the last corpus loaded


def _corpus(source, token: str, mode: str, max_tokens: int):
    """``(corpus, vocab)`` of the app's engine.corpus.Source through its token file."""
    from engine.tokenfile import load_corpus

    key = (id(source), token, mode, max_tokens)
    if key not in _CORPUS:
        _CORPUS.clear()
        _CORPUS[key] = (source, load_corpus(source, token, mode, max_tokens))
    return _CORPUS[key][1]


def compute_batches(pane, config, from_run: bool, source, batch, steps, iterator, count: int, draw: int) -> None:
    """Runs in a thread: the first ``count`` minibatches with the run's settings (``config``: the
    current run's, or the preset one) where not given."""
    from engine.minibatches import first_minibatches, tokens_text

    corpus, vocab = _corpus(source, config.token, config.mode, config.max_tokens)
    batch, steps = batch or config.batch, steps or config.steps
    iterator = config.iterator if iterator == RUN else iterator
    minibatches = first_minibatches(corpus, batch, steps, iterator, count, seed=config.seed + draw,
                                    val_fraction=config.val_fraction)
    texts = {(row.batch, row.row): (tokens_text(vocab, row.X, config.token),
                                    tokens_text(vocab, row.Y, config.token))
             for minibatch in minibatches for row in minibatch}
    if not get_current_worker().is_cancelled:  # else a newer request took over: its result must stay
        pane.post_message(BatchesComputed(minibatches, texts, batch, steps, iterator, config.seed, draw, from_run))


def render_batches(result: BatchesComputed) -> Text:
    text = Text()
    shown = 0
    for minibatch in result.minibatches:
        text.append(f"minibatch {minibatch[0].batch + 1}\n", style="bold")
        for row in minibatch:
            if shown == MAX_SHOWN_ROWS:
                total = sum(len(m) for m in result.minibatches)
                text.append(f"… and {total - shown:,} more rows: lower count or B to see them all\n",
                            style="dim")
                return text
            shown += 1
            x, y = result.texts[(row.batch, row.row)]
            label = f"{row.row + 1:>3} @{row.start:>9,} "
            text.append(label + "X ", style="dim")
            text.append(x.replace("\n", "⏎") + "\n")
            text.append(" " * len(label) + "Y ", style="dim")
            text.append(y.replace("\n", "⏎") + "\n", style="italic")
            if row.continues:
                text.append(" " * len(label) + f"↳ continues row {row.row + 1} of minibatch {row.batch} "
                                                f"(@{row.start - result.steps:,} + {result.steps})\n",
                            style="green")
    return text


def title(result: BatchesComputed) -> Text:
    source = "the run's settings" if result.from_run else "the settings the app started with (no model yet)"
    draw = "the run's own draw" if result.draw == 0 else f"draw {result.draw}: not what the run trains on"
    text = Text.assemble((result.iterator, "bold"), f" · B = {result.batch} rows × T = {result.steps} tokens · "
                         f"seed {result.seed}, {draw} · {source}\n")
    if result.iterator == "sequential":
        text.append("sequential partitioning: row i of each minibatch continues row i of the one before, so "
                    "the hidden state is carried across minibatches (detached: gradients stop at the cut)")
    else:
        text.append("random sampling: rows are unrelated to the previous minibatch's, so each minibatch "
                    "starts from a fresh (zero) hidden state")
    return text


class BatchesPane(Vertical):
    """B, T, iterator and count controls (blank: the run's), New draw, and the minibatches."""


    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.draw = 0
        self.result: BatchesComputed | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="batches-controls"):
            yield Label("B")
            yield Input(placeholder="run's", type="integer", compact=True, id="batches-batch")
            yield Label("T")
            yield Input(placeholder="run's", type="integer", compact=True, id="batches-steps")
            yield Select([("run's", RUN), ("random", "random"), ("sequential", "sequential")], value=RUN,
                         allow_blank=False, compact=True, id="batches-iter")
            yield Label("count")
            yield Input("3", type="integer", compact=True, id="batches-count")
            yield Button("New draw", id="batches-redraw", compact=True)
        yield Static(id="batches-error", classes="error", markup=False)
        yield Static("", id="batches-title")
        with VerticalScroll(id="batches-scroll"):
            yield Static(id="batches-rows")

    def on_show(self) -> None:
        self.query_one("#batches-scroll").focus()
        self.redraw()

    @on(Input.Submitted)
    @on(Select.Changed, "#batches-iter")
    def _changed(self) -> None:
        self.redraw()

    @on(Button.Pressed, "#batches-redraw")
    def new_draw(self) -> None:
        """Another draw of the random offset (and, for random sampling, of the order)."""
        self.draw += 1
        self.redraw()

    def _number(self, name: str) -> int | None:
        raw = self.query_one(f"#batches-{name}", Input).value.strip()
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name}: {raw!r} is not a whole number") from None

    def redraw(self) -> None:
        if self.app.corpus_text is None:
            self._error("no corpus yet: wait for the Corpus pane")
            return
        try:
            batch, steps, count = self._number("batch"), self._number("steps"), self._number("count")
        except ValueError as exc:
            self._error(str(exc))
            return
        for name, value in (("B", batch), ("T", steps)):
            if value is not None and value < 1:  # blank means the run's; 0 would silently mean it too
                self._error(f"{name} {value}: must be a whole number from 1 (blank: the run's)")
                return
        self._error("")
        iterator = self.query_one("#batches-iter", Select).value
        training = self.app.training
        self.run_worker(partial(compute_batches, self, training.run_config, training.info is not None,
                                self.app.corpus_text, batch, steps, iterator, 3 if count is None else count,
                                self.draw), name="minibatches", group="batches", thread=True, exclusive=True,
                        exit_on_error=False)

    @on(BatchesComputed)
    def _computed(self, message: BatchesComputed) -> None:
        message.stop()
        self.result = message
        self.query_one("#batches-title", Static).update(title(message))
        self.query_one("#batches-rows", Static).update(render_batches(message))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "batches" and event.state == WorkerState.ERROR:
            self._error(error_line(event.worker.error))

    def _error(self, line: str) -> None:
        error = self.query_one("#batches-error", Static)
        error.update(line)
        error.display = bool(line)
