"""The Inspect pane: what the model predicts next, what its units track, which inputs it leans on.

Type or paste a text (or give a span of the corpus) and the current weights read it in a thread
worker (``engine.inspect``): the text comes back coloured by the probability the model gave each
token, with its likeliest next token under it; the cursor's top-5 on the right.  Colour by a unit
instead (Up/Down, a typed number, [ and ] for the quantity and layer), see the units ranked by the
text features they track and the gates' saturation, or the saliency of every input for the
prediction at the cursor.  While training runs the text is read again every REFRESH seconds.
"""
from __future__ import annotations

from functools import partial

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Input, Label, OptionList, Select, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState, get_current_worker

from engine.errors import ConfigError
from tui.messages import Inspected, SaliencyReady
from tui.notify import error_line, notify_error
from tui.widgets.prompt import PromptInput
from tui.widgets.saturation_plot import SaturationPlot
from tui.widgets.token_view import TokenView, diverging, heat, probability

REFRESH = 2.0          # seconds between re-reads while training runs (a 2,000-token read takes ~0.2 s)
SALIENCY_DELAY = 0.2   # the cursor rests this long before saliency is computed for it
TOP = 5                # next-token candidates shown for the cursor
PER_FEATURE = 3        # ranked units listed per feature
MAX_TEXT = 200_000     # characters in the box; the engine refuses more than 20,000 tokens
MODES = [("next token", "next"), ("unit", "unit"), ("saliency", "saliency")]
NO_MODEL = "no model yet: start training (F5) or load a checkpoint (Ctrl+O), then read a text"


def read_worker(pane, run: int, trainer, text: str | None, span: tuple[int, int] | None, source,
                last_step: int | None) -> None:
    """Runs in a thread: read the text (or corpus span) with a snapshot of the current weights and
    post everything the pane draws.  A refresh (``last_step`` set) whose weights have not moved
    since posts nothing."""
    from engine.inspect import corpus_span, read_text
    from engine.tokenfile import prepare
    from engine.unit_features import gate_saturation, rank_units, text_features

    step = trainer.global_step
    if last_step is not None and step == last_step:
        return
    model = trainer.snapshot_model()
    vocab, token = trainer.vocab, trainer.config.token
    if span is not None:
        if source is None:
            raise ConfigError("no corpus loaded yet: wait for the Corpus pane, or type a text")
        text = corpus_span(prepare(source, token, trainer.config.mode), *span)
    reading = read_text(model, vocab, text, k=min(TOP, len(vocab)))
    if get_current_worker().is_cancelled:
        return
    ranked = rank_units(reading.acts, text_features(text, token))
    saturation = {key: (low.tolist(), high.tolist()) for key, (low, high) in gate_saturation(reading.acts).items()}
    tops = [vocab.to_tokens(row) for row in reading.topk_idx.tolist()]
    pane.post_message(Inspected(run, model, token, tops, reading, ranked, saturation, step))


def saliency_worker(pane, result: Inspected, t: int) -> None:
    """Runs in a thread: the saliency of every input for the prediction after position t."""
    from engine.saliency import saliency_of

    values = saliency_of(result.model, result.reading, t).tolist()
    pane.post_message(SaliencyReady(result.run, result.step, t, values))


def parse_span(raw: str) -> tuple[int, int]:
    """``"START:LEN"`` as two whole numbers, or a one-line error."""
    start, sep, length = raw.strip().partition(":")
    if not sep or not start.strip().isdigit() or not length.strip().isdigit():
        raise ConfigError(f"span {raw!r}: use START:LEN, e.g. 1000:500 (tokens of the corpus)")
    return int(start), int(length)


class InspectPane(Vertical):
    """Text box and span, colouring controls, the token view, and the Next / Units / Gates tabs."""

    BORDER_TITLE = "Inspect"
    BINDINGS = [
        Binding("up", "unit(1)", "Next unit", show=False, id="inspect-unit-next"),
        Binding("down", "unit(-1)", "Previous unit", show=False, id="inspect-unit-previous"),
        Binding("right_square_bracket", "quantity(1)", "Next quantity", show=False, id="inspect-quantity-next"),
        Binding("left_square_bracket", "quantity(-1)", "Previous quantity", show=False,
                id="inspect-quantity-previous"),
        Binding("n", "colour('next')", "Colour by next-token probability", show=False, id="inspect-colour-next"),
        Binding("u", "colour('unit')", "Colour by unit", show=False, id="inspect-colour-unit"),
        Binding("s", "colour('saliency')", "Colour by saliency", show=False, id="inspect-colour-saliency"),
        Binding("r", "reread", "Read again", show=False, id="inspect-reread"),
        Binding("enter", "go_to_unit", "Go to the typed unit", show=False, id="inspect-go-to-unit"),
        *(Binding(str(d), f"digit({d})", "Type a unit number", show=False, id=f"inspect-digit-{d}")
          for d in range(10)),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.run = 0                    # id of the newest read; older results are dropped
        self.request: tuple[str | None, tuple[int, int] | None] | None = None  # (text, span) to read
        self.shown: tuple[str | None, tuple[int, int] | None] | None = None    # ... and the one on screen
        self.result: Inspected | None = None
        self.mode, self.key, self.unit = "next", None, 0
        self.digits = ""                # a unit number being typed
        self.saliency: tuple[int, list[float]] | None = None
        self._saliency_timer: Timer | None = None
        self._units_shown: tuple | None = None  # (run, step, key) the ranked list was built for
        self.notice = ""                # see _status
        self._reading = False           # a read the user asked for is under way

    def compose(self) -> ComposeResult:
        with Horizontal(id="inspect-source", classes="row"):
            yield PromptInput(placeholder="type or paste a text, then Enter", max_length=MAX_TEXT,
                              compact=True, id="inspect-text")
            yield Input(placeholder="or START:LEN", compact=True, id="inspect-span")
        with Horizontal(id="inspect-controls", classes="row"):
            yield Select(MODES, value="next", allow_blank=False, compact=True, id="inspect-mode")
            yield Select([], prompt="quantity", compact=True, id="inspect-key")
            yield Label("unit", classes="field-label")
            yield Input("0", type="integer", compact=True, id="inspect-unit")
        with Horizontal(id="inspect-body"):
            yield TokenView(id="inspect-view")
            with TabbedContent(id="inspect-side"):
                with TabPane("Next", id="inspect-tab-next"):
                    yield Static(id="inspect-top")
                with TabPane("Units", id="inspect-tab-units"):
                    yield OptionList(id="inspect-ranked")
                with TabPane("Gates", id="inspect-tab-gates"):
                    yield SaturationPlot(id="inspect-gates")
        yield Static(NO_MODEL, id="inspect-status", classes="status", markup=False)

    def on_mount(self) -> None:
        self.set_interval(REFRESH, self._refresh)

    # ------------------------------------------------------------- reading ----

    @on(Input.Submitted, "#inspect-text")
    def _text_submitted(self, event: Input.Submitted) -> None:
        self.query_one(PromptInput).remember(event.value)
        self.read(text=event.value)

    @on(Input.Submitted, "#inspect-span")
    def _span_submitted(self, event: Input.Submitted) -> None:
        try:
            self.read(span=parse_span(event.value))
        except ConfigError as exc:
            self._status(error_line(exc))

    def read(self, text: str | None = None, span: tuple[int, int] | None = None) -> None:
        """Read ``text`` (or the corpus ``span``) with the current weights."""
        self.request = (text, span)
        self.run += 1
        self.saliency = None
        self._start(None)

    def _start(self, last_step: int | None) -> None:
        trainer = self.app.trainer
        if trainer is None:
            self._status(NO_MODEL)
            return
        if last_step is None:
            self.workers.cancel_group(self, "inspect")
            self._status("reading…")
            self._reading = True
        text, span = self.request
        self.run_worker(partial(read_worker, self, self.run, trainer, text, span, self.app.corpus_text, last_step),
                        name="inspect", group="inspect", thread=True, exit_on_error=False)

    def _refresh(self) -> None:
        """Read the text again with newer weights while training runs (at most every REFRESH s)."""
        busy = any(w.group == "inspect" and not w.is_finished for w in self.workers)
        if self.request is None or self.result is None or busy or not self.is_on_screen:
            return
        self._start(self.result.step)

    def action_reread(self) -> None:
        if self.request is not None:
            self.run += 1
            self._start(None)

    @on(Inspected)
    def _inspected(self, message: Inspected) -> None:
        if message.run != self.run:  # a newer text was asked for meanwhile
            return
        first = self.result is None or list(self.result.reading.acts) != list(message.reading.acts)
        if self._reading:
            self._reading, self.notice = False, ""  # "reading…" is over
        self.result, self.shown = message, self.request
        if first:
            keys = list(message.reading.acts)
            self.key = self.key if self.key in keys else keys[-1]  # the top layer's h comes last
            select = self.query_one("#inspect-key", Select)
            select.set_options([(key, key) for key in keys])
            select.value = self.key
        if self.mode == "saliency":
            self._ask_saliency()  # for the new text, or the weights moved: the shown saliency is stale
        self._draw()

    @on(SaliencyReady)
    def _saliency_ready(self, message: SaliencyReady) -> None:
        if self.result is not None and (message.run, message.step) == (self.result.run, self.result.step):
            self.saliency = (message.t, message.values)
            self._draw()

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            if event.worker.group == "inspect":
                self.request, self._reading = self.shown, False  # refreshes go on with the text on screen
            self._status(notify_error(self, event.worker.error, "inspect"))

    # ---------------------------------------------------------- controls ----

    @on(Select.Changed, "#inspect-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        self.action_colour(str(event.value))

    @on(Select.Changed, "#inspect-key")
    def _key_changed(self, event: Select.Changed) -> None:
        if event.value != Select.BLANK and event.value != self.key:
            self.key = str(event.value)
            self._set_unit(self.unit, wrap=True)

    @on(Input.Submitted, "#inspect-unit")
    def _unit_submitted(self, event: Input.Submitted) -> None:
        try:
            unit = int(event.value)
        except ValueError:
            self._status(f"unit {event.value!r}: give a whole number")
            return
        self._set_unit(unit, colour=True)

    def action_colour(self, mode: str) -> None:
        self.mode, self.notice = mode, ""
        mode_select = self.query_one("#inspect-mode", Select)
        if mode_select.value != mode:
            mode_select.value = mode
        if mode == "saliency":
            self._ask_saliency()
        self._draw()

    def action_unit(self, delta: int) -> None:
        self._set_unit(self.unit + delta, colour=True, wrap=True)

    def action_quantity(self, delta: int) -> None:
        if self.result is not None:
            keys = list(self.result.reading.acts)
            self.key = keys[(keys.index(self.key) + delta) % len(keys)]
            self.query_one("#inspect-key", Select).value = self.key
            self._set_unit(self.unit, colour=True, wrap=True)

    def action_digit(self, digit: int) -> None:
        self.digits = (self.digits + str(digit))[-6:]
        self._status(f"unit {self.digits}… (Enter to show it)")

    def action_go_to_unit(self) -> None:
        if self.digits:
            unit, self.digits = int(self.digits), ""
            self._set_unit(unit, colour=True)

    def _set_unit(self, unit: int, colour: bool = False, wrap: bool = False) -> None:
        """Show ``unit`` of the current quantity (``wrap``: past the last comes the first)."""
        if self.result is None or self.key is None:
            return
        size = self.result.reading.acts[self.key].shape[1]
        if wrap:
            unit %= size
        elif not 0 <= unit < size:
            self._status(f"unit {unit}: {self.key} has units 0 to {size - 1}")
            return
        self.unit, self.notice = unit, ""
        unit_input = self.query_one("#inspect-unit", Input)
        if unit_input.value != str(unit):
            unit_input.value = str(unit)
        if colour:
            self.action_colour("unit")
        else:
            self._draw()

    @on(OptionList.OptionSelected, "#inspect-ranked")
    def _ranked_picked(self, event: OptionList.OptionSelected) -> None:
        _, key, unit = event.option.id.split(":")
        self.key = key
        self.query_one("#inspect-key", Select).value = key
        self._set_unit(int(unit), colour=True)

    @on(TokenView.CursorMoved)
    def _cursor_moved(self, message: TokenView.CursorMoved) -> None:
        self.notice = ""
        if self.mode == "saliency":
            if self._saliency_timer is not None:
                self._saliency_timer.stop()
            self._saliency_timer = self.set_timer(SALIENCY_DELAY, self._ask_saliency)
        self._draw_side()

    def _ask_saliency(self) -> None:
        if self.result is None:
            return
        t = min(self.query_one(TokenView).cursor, len(self.result.reading.tokens) - 2)
        if t < 0:
            self._status("saliency needs a text of at least two tokens")
            return
        self.workers.cancel_group(self, "saliency")
        self.run_worker(partial(saliency_worker, self, self.result, t), name="saliency", group="saliency",
                        thread=True, exit_on_error=False)

    # ----------------------------------------------------------- drawing ----

    def _status(self, line: str) -> None:
        """A notice (an error, "reading…") that stays in the status line until the next action."""
        self.notice = line
        self.query_one("#inspect-status", Static).update(line)

    def _draw(self) -> None:
        if self.result is None:
            return
        reading = self.result.reading
        tokens = reading.tokens
        if self.mode == "unit":
            from engine.inspect import shown_values

            values, lo, hi = shown_values(reading.acts, self.key, self.unit)
            colours = [diverging(v, lo, hi) for v in values.tolist()]
        elif self.mode == "saliency" and self.saliency is not None:
            t, values = self.saliency
            top = max(values)
            colours = [heat(v, top) for v in values] + [None] * (len(tokens) - t - 1)
        else:
            colours = [None] + [probability(p) for p in reading.log_probs_true.exp().tolist()]
        self.query_one(TokenView).show(tokens, colours, [row[0] for row in self.result.tops],
                                       words=self.result.token == "word", dim=set(reading.unknown))
        self._draw_side()
        self._draw_units()
        gates = self.query_one(SaturationPlot)
        if self.result.saturation:
            gates.show(self.result.saturation, self._layer())
        else:
            gates.show_notice("the RNN has no gates: train a gru or lstm")

    def _layer(self) -> int:
        return int(self.key.split(".", 1)[0][1:])

    def _draw_side(self) -> None:
        """The cursor's top next tokens, and the status line."""
        if self.result is None:
            return
        reading = self.result.reading
        t = min(self.query_one(TokenView).cursor, len(reading.tokens) - 1)
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right")
        table.add_column()
        table.add_column(justify="right")
        table.add_column()
        table.add_row("", Text(f"after {reading.tokens[t]!r} ({t})", style="bold"), "", "")
        for rank, (token, p) in enumerate(zip(self.result.tops[t], reading.topk_p[t].tolist()), 1):
            table.add_row(str(rank), repr(token), f"{p:.3f}", "█" * round(p * 10))
        if t + 1 < len(reading.tokens):
            p_true = float(reading.log_probs_true[t].exp())
            table.add_row("", Text(f"next in the text: {reading.tokens[t + 1]!r}", style="italic"), f"{p_true:.3f}", "")
        self.query_one("#inspect-top", Static).update(table)
        parts = [f"{len(reading.tokens):,} tokens", f"loss {reading.loss:.3f}", f"perplexity {reading.perplexity:.2f}",
                 f"step {self.result.step:,}", f"cursor {t}"]
        if self.mode == "unit":
            from engine.inspect import shown_values

            values, _, _ = shown_values(reading.acts, self.key, self.unit)
            parts.append(f"{self.key}:{self.unit} = {float(values[t]):+.3f}")
        elif self.mode == "saliency":
            parts.append(f"saliency for position {self.saliency[0]}" if self.saliency else "saliency: computing…")
        if reading.unknown:
            parts.append(f"{len(reading.unknown)} read as <unk>")
        self.query_one("#inspect-status", Static).update(self.notice or " · ".join(parts))

    def _draw_units(self) -> None:
        """The best units of the current quantity for each feature; picking one colours the text by it."""
        from engine.unit_features import top_per_feature

        if self._units_shown == (self.result.run, self.result.step, self.key):
            return  # rebuilding would lose the highlighted entry
        self._units_shown = (self.result.run, self.result.step, self.key)
        ranked = [s for s in self.result.ranked if s.key == self.key]
        ranked_list = self.query_one("#inspect-ranked", OptionList)
        ranked_list.clear_options()
        for feature, scores in top_per_feature(ranked, PER_FEATURE).items():
            for s in scores:
                ranked_list.add_option(Option(f"{feature:<13} {s.unit:>4}  r={s.r:+.2f}",
                                              id=f"{feature}:{s.key}:{s.unit}"))
        if not ranked:
            ranked_list.add_option(Option("(no feature varies along this text)", disabled=True))
