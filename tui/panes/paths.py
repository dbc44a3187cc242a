"""The Paths tab: the terms of backpropagation through time for the current weights, live while
training (engine.gradient_paths; seed notes "RNN 梯度慢慢推导").

A thread worker takes a snapshot of the trainer's weights (``Trainer.snapshot_model``, thread-safe),
computes C for one corpus row and posts it as plain data; the handlers here draw.  While training
runs the view refreshes at most every REFRESH seconds, and only while it is on screen.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from tui.notify import notify_error
from tui.widgets.path_heatmap import PathHeatmap

REFRESH = 3.0        # seconds between recomputations while training runs
POLL = 0.5           # seconds between checks whether one is due
SHOWN_TERMS = 5      # losses named one by one in the decomposition; the rest are summed
DEFAULT_K = 10       # the truncation shown first


@dataclass
class PathsComputed(Message):
    """C and what derives from it, for one row and layer of one run's weights, as plain lists.

    ``C[t][s]``, ``shares[t][s]`` (of Σ_s C[t][s]); ``grad_norm[t]`` = ||dL/dh_t||, the norm of the
    vector sum; ``dropped[k][t]`` and ``overall[k]`` what truncation to k steps drops."""

    run: int             # the Training pane's run number
    step: int
    cell: str
    layer: int
    layers: int
    row: int
    rows: int
    start: int
    text: str
    run_steps: int
    C: list
    shares: list
    grad_norm: list
    dropped: list
    overall: list


_PREPARED: dict = {}  # (id(source), token, mode, id(vocab)) -> (source, vocab, tokens, table): the last one


def _tokens(source, vocab, token: str, mode: str):
    """The corpus's token file at the run's token level and mode, and the table from its indices to
    the model's (both kept for the next refresh)."""
    from engine.tokenfile import prepare

    key = (id(source), token, mode, id(vocab))
    if key not in _PREPARED:
        _PREPARED.clear()
        prepared = prepare(source, token, mode)
        _PREPARED[key] = (source, vocab, prepared.tokens, prepared.lookup(vocab))
    return _PREPARED[key][2:]


def compute_paths(pane, run: int, trainer, source, row: int, layer: int, unless_at: int | None = None) -> None:
    """Runs in a thread: C for ``row`` of the corpus under the trainer's current weights; nothing
    when the trainer is still at step ``unless_at`` (paused or stopped: the weights have not moved)."""
    from engine.gradient_paths import (MAX_STEPS, bptt_paths, corpus_row, gradient_norms, layer_index,
                                       num_rows, path_shares, truncation_dropped)
    from engine.minibatches import tokens_text

    worker = get_current_worker()
    step = trainer.global_step
    if step == unless_at:
        return
    config = trainer.config
    model = trainer.snapshot_model()
    tokens, table = _tokens(source, trainer.vocab, config.token, config.mode)
    steps = min(config.steps, MAX_STEPS)
    rows = num_rows(len(tokens), steps)
    row = min(row, max(rows - 1, 0))  # a shorter text than the last one shown
    X, Y = corpus_row(tokens, row, steps, table)
    if worker.is_cancelled:
        return
    layer = layer_index(model, layer)
    C, G = bptt_paths(model, X, Y, layer=layer)
    truncations = [truncation_dropped(C, k) for k in range(steps)]
    if worker.is_cancelled:
        return
    pane.post_message(PathsComputed(
        run, step, config.cell, layer, model.num_layers, row, rows, row * steps,
        tokens_text(trainer.vocab, X.tolist(), config.token), config.steps, C.tolist(), path_shares(C).tolist(),
        gradient_norms(G).tolist(),
        [per_t.tolist() for per_t, _ in truncations], [overall for _, overall in truncations]))


def decomposition(result: PathsComputed, s: int, t: int) -> Text:
    """The seed's sentence for column t, then the cell under the cursor (indices shown from 1)."""
    T = len(result.C)
    shares, C = result.shares[t], result.C[t]
    named = range(t, min(T, t + SHOWN_TERMS))
    def via(d: int) -> str:
        return "directly" if d == 0 else f"via {d} step" + "s" * (d > 1)

    parts = [(shares[s_], f" from L_{s_ + 1} {via(s_ - t)}", s_ == s) for s_ in named]
    if T > named.stop:
        parts.append((sum(shares[named.stop:]), f" from the other {T - named.stop} losses (up to L_{T}, "
                                                f"{T - 1 - t} steps away)", s >= named.stop))
    text = Text.assemble(("dL/dh_" + str(t + 1), "bold"), " receives ")
    for i, (share, what, here) in enumerate(parts):
        text.append(f"{share:.0%}", style="bold reverse" if here else "bold")
        text.append(what + (", " if i < len(parts) - 1 else ".\n\n"))
    text.append(f"‖∂L_{s + 1}/∂h_{t + 1}‖ = {C[s]:.2e}", style="bold")
    text.append(f" ({s - t} steps back): {shares[s]:.1%} of Σ_s ‖∂L_s/∂h_{t + 1}‖ = {sum(C):.2e}; "
                f"‖dL/dh_{t + 1}‖ = {result.grad_norm[t]:.2e}", style="dim")
    return text


def truncation_text(result: PathsComputed, k: int, t: int) -> Text:
    T = len(result.C)
    text = Text.assemble("truncated BPTT, ", (f"k = {k}", "bold"), f" (cuts paths with s - t > {k}): drops ",
                         (f"{result.dropped[k][t]:.1%}", "bold"), f" at h_{t + 1}; ")
    if k < T - 1:
        text.append(f"{result.overall[k]:.1%}", style="bold")
        text.append(f" on average over t = 1..{T - 1 - k}")
    else:
        text.append(f"nothing anywhere: no path is longer than {T - 1} steps")
    return text


class PathsPane(Vertical):
    """Which row, layer and truncation to show; owns the heatmap and the text beside it."""

    BINDINGS = [
        Binding("left_square_bracket", "row(-1)", "Row −", id="paths-row-prev"),
        Binding("right_square_bracket", "row(1)", "Row +", id="paths-row-next"),
        Binding("minus", "truncate(-1)", "k −", id="paths-k-less"),
        Binding("plus,equals_sign", "truncate(1)", "k +", id="paths-k-more"),
        Binding("l", "layer", "Layer", id="paths-layer"),
        Binding("r", "recompute", "Refresh", id="paths-refresh"),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.row = 0
        self.state_layer = -1
        self.k = DEFAULT_K
        self.result: PathsComputed | None = None
        self._run = 0                 # the run whose weights the result (or the computation under way) shows
        self._worker: Worker | None = None
        self._wanted = True           # recompute at the next poll, whatever the clock says
        self._moving = False          # the last computation was taken while training ran
        self._shown = (0, -1)         # the row and layer (as asked) of the result shown
        self._finished_at = 0.0

    def compose(self) -> ComposeResult:
        yield Static("no model yet: train (F5) or load a checkpoint (Ctrl+O)", id="paths-title")
        with Horizontal(id="paths-body"):
            yield PathHeatmap(id="paths-heatmap")
            with VerticalScroll(id="paths-side"):
                yield Static(id="paths-cell")
                yield Static(id="paths-truncation")

    def on_mount(self) -> None:
        self.set_interval(POLL, self._poll)

    def on_show(self) -> None:
        self.query_one(PathHeatmap).focus()
        self._poll()

    # ---------------------------------------------------------- actions ----

    def action_row(self, delta: int) -> None:
        rows = self.result.rows if self.result else 1
        row = min(max(self.row + delta, 0), rows - 1)
        if row != self.row:
            self.row = row
            self.action_recompute()

    def action_layer(self) -> None:
        layers = self.result.layers if self.result else 1
        current = self.result.layer if self.result else 0
        if layers > 1:
            self.state_layer = (current + 1) % layers
            self.action_recompute()

    def action_truncate(self, delta: int) -> None:
        if self.result is not None:
            self.k = min(max(self.k + delta, 0), len(self.result.C) - 1)
            self._draw_side()

    def action_recompute(self) -> None:
        self._wanted = True
        self._poll()

    # ------------------------------------------------------------- work ----

    def _poll(self) -> None:
        """Start a computation when one is due and none is under way: on request, for a new trainer,
        every REFRESH seconds while training runs, and once more after it stops."""
        if not self.has_class("-active") or (self._worker is not None and self._worker.is_running):
            return
        trainer, training = self.app.trainer, self.app.training
        if trainer is None or self.app.corpus_text is None:
            return
        if training.run_number != self._run:
            self._run, self.state_layer, self._wanted = training.run_number, -1, True
        due = training.running and time.monotonic() - self._finished_at >= REFRESH
        if not (self._wanted or due or (self._moving and not training.running)):
            return
        # the same row and layer again: the worker skips the work if no step was taken since
        same = not self._wanted and self.result is not None and self._shown == (self.row, self.state_layer)
        self._wanted = False
        self._moving = training.running  # weights that move now need one more look once they stop
        self._worker = self.run_worker(partial(compute_paths, self, self._run, trainer, self.app.corpus_text, self.row,
                                               self.state_layer, self.result.step if same else None),
                                       name="paths", group="paths", thread=True, exclusive=True,
                                       exit_on_error=False)

    @on(PathsComputed)
    def _computed(self, message: PathsComputed) -> None:
        message.stop()
        if message.run != self.app.training.run_number:
            return
        self.result, self.row = message, message.row
        self._shown = (message.row, self.state_layer)
        self.k = min(self.k, len(message.C) - 1)
        heatmap = self.query_one(PathHeatmap)
        heatmap.show(message.C)
        T = len(message.C)
        cut = f" (the run's {message.run_steps} steps, cut to {T})" if message.run_steps > T else ""
        self.query_one("#paths-title", Static).update(Text.assemble(
            (f"{message.cell}", "bold"), f" · layer {message.layer + 1} of {message.layers}",
            " (h, not c)" if message.cell == "lstm" else "", f" · T = {T}{cut} · step {message.step:,}",
            f" · row {message.row + 1:,} of {message.rows:,} @{message.start:,}\n",
            (repr(message.text), "dim"), "   cell (s, t): ‖∂L_s/∂h_t‖, log colours"), layout=False)
        self._draw_side()

    @on(PathHeatmap.CursorMoved)
    def _cursor_moved(self) -> None:
        self._draw_side()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "paths" or not event.worker.is_finished:
            return
        self._finished_at = time.monotonic()
        if event.state == WorkerState.ERROR:
            notify_error(self, event.worker.error, title="paths")

    def _draw_side(self) -> None:
        result = self.result
        if result is None:
            return
        heatmap = self.query_one(PathHeatmap)
        heatmap.set_truncation(self.k, result.dropped[self.k])
        self.query_one("#paths-cell", Static).update(decomposition(result, heatmap.s, heatmap.t))
        self.query_one("#paths-truncation", Static).update(truncation_text(result, self.k, heatmap.t))
