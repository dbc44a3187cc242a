"""The Corpus pane: size, vocabulary, top n-grams, Zipf's law and the n-gram baselines (d2l 8.3).

A large text is prepared (tokenised into a token file) and counted in a worker thread; the
worker posts CorpusProgress messages, a few a second, that a progress bar draws.
"""
from __future__ import annotations

from functools import partial

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, ProgressBar, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from engine.escape import printable
from tui.messages import CorpusLoaded, CorpusProgress
from tui.notify import notify_error
from tui.widgets.plots import ZipfPlot
from tui.worker_progress import ProgressPoster

TOKEN_CHOICES = [("characters", "char"), ("words", "word")]
def ngram_table(stats) -> Table:
    """Top uni/bi/trigrams side by side; spaces inside char n-grams shown as ␣, control characters
    as symbols (engine.escape: an ESC in a raw corpus must not reach the terminal).

    Grams go in as Text: a raw corpus has n-grams like ``[/]`` that Rich would read as markup."""
    table = Table(box=None, pad_edge=False, padding=(0, 1), expand=True)
    for n in (1, 2, 3):
        table.add_column(f"{n}-gram", ratio=2 + n, no_wrap=True, overflow="ellipsis")
        table.add_column("count", justify="right", style="dim")
    shown = (lambda g: printable(g).replace(" ", "␣")) if stats.token == "char" else printable
    rows = max(len(grams) for grams in stats.top.values())
    for i in range(rows):
        cells = []
        for n in (1, 2, 3):
            grams = stats.top[n]
            cells += [Text(shown(grams[i][0])), f"{grams[i][1]:,}"] if i < len(grams) else ["", ""]
        table.add_row(*cells)
    return table


def baseline_table(stats) -> Table:
    """Validation perplexity of each Laplace-smoothed n-gram model; the best is the line to beat."""
    alphas = sorted({b.alpha for b in stats.ngram_baselines}, reverse=True)
    table = Table(box=None, pad_edge=False, padding=(0, 1), title_justify="left",
                  title=Text("n-gram baselines: validation perplexity", style="bold"))
    table.add_column("n")
    for alpha in alphas:
        table.add_column(f"α={alpha:g}", justify="right")
    best = stats.best_baseline
    for n in sorted({b.n for b in stats.ngram_baselines}):
        row = {b.alpha: b for b in stats.ngram_baselines if b.n == n}
        cells = []
        for alpha in alphas:
            b = row.get(alpha)
            style = "bold reverse" if b is best else ""
            cells.append(Text(f"{b.val_perplexity:,.2f}" if b else "", style=style))
        table.add_row(str(n), *cells)
    return table


def summary_text(stats) -> Text:
    text = Text.assemble((printable(stats.name), "bold"), "\n",
                         f"{stats.chars:,} characters · {stats.tokens:,} {stats.token} tokens ({stats.mode} mode) · "
                         f"vocabulary {stats.vocab_size:,}")
    if stats.notice:
        text.append(f"\n{printable(stats.notice)}", style="italic")
    return text


class CorpusPane(VerticalScroll):
    """Shows ``engine.stats.corpus_stats`` for the current source; switches source and token level."""

    BORDER_TITLE = "Corpus"
    BORDER_SUBTITLE = "↓ Zipf plot · n-gram baselines · switch corpus"

    def __init__(self, source: str | None = None, mode: str = "book", **kwargs):
        super().__init__(**kwargs)
        self.source = source        # None: the default corpus (engine.corpus.open_source)
        self.token = "char"
        self.mode = mode            # the training form's preprocessing: the statistics follow it
        self._found = None          # the engine.corpus.Source of the current source, found once
        self._requested = False     # a load() was asked for

    def compose(self) -> ComposeResult:
        yield Static("reading the corpus…", id="corpus-summary")
        with Horizontal(classes="row", id="corpus-progress-row"):
            yield Label("", id="corpus-stage", classes="field-label")
            yield ProgressBar(id="corpus-progress", show_eta=True)
        with Horizontal(classes="row"):
            yield Label("n-grams of", classes="field-label")
            yield Select(TOKEN_CHOICES, value="char", allow_blank=False, compact=True, id="corpus-token")
        yield Static(id="corpus-ngrams")
        yield ZipfPlot(id="corpus-zipf")
        yield Static(id="corpus-baselines")
        yield Input(placeholder="switch corpus: timemachine, python-docs or a file path; Enter",
                    compact=True, id="corpus-source")
        yield Static(id="corpus-error", classes="error", markup=False)  # error lines hold [brackets]

    def on_mount(self) -> None:
        # after the first paint: the statistics thread holds the GIL for long stretches
        self.call_after_refresh(self._first_load)

    def _first_load(self) -> None:
        if not self._requested:  # a checkpoint given at launch may have asked for its corpus first
            self.load(self.source, self.token)

    def load(self, source: str | None, token: str, mode: str | None = None) -> None:
        """Compute the statistics in a thread; the result arrives as CorpusLoaded."""
        self._requested = True
        self.mode = mode or self.mode
        same_source = source == self.source and self._found is not None
        self.query_one("#corpus-error", Static).display = False
        self.query_one("#corpus-summary").loading = True
        self.run_worker(partial(self._compute, source, token, self.mode, self._found if same_source else None),
                        name="corpus statistics", group="corpus", thread=True, exclusive=True,
                        exit_on_error=False)

    def set_mode(self, mode: str) -> None:
        """Show the statistics of the text as ``mode`` (book or raw) preprocesses it."""
        if mode != self.mode:
            self.load(self.source, self.token, mode)

    def _compute(self, source: str | None, token: str, mode: str, found) -> None:
        from engine.corpus import PREPARED_MAX_BYTES, open_source
        from engine.stats import corpus_stats

        if found is None:
            found = open_source(source, max_bytes=PREPARED_MAX_BYTES)
        stats = corpus_stats(found, token=token, mode=mode, progress=ProgressPoster(self))
        if not get_current_worker().is_cancelled:
            self.post_message(CorpusLoaded(source, found, stats))

    @on(CorpusProgress)
    def _progress(self, message: CorpusProgress) -> None:
        self.query_one("#corpus-progress-row").display = True
        self.query_one("#corpus-stage", Label).update(message.stage)
        self.query_one("#corpus-progress", ProgressBar).update(total=message.total, progress=message.done)

    def _done(self) -> None:
        self.query_one("#corpus-summary").loading = False
        self.query_one("#corpus-progress-row").display = False

    @on(CorpusLoaded)
    def _show(self, message: CorpusLoaded) -> None:
        # The app also hears this message (it bubbles) and keeps the statistics for the other panes.
        self.source, self._found, self.token = message.source, message.text, message.stats.token
        self.show(message.stats)

    def show(self, stats) -> None:
        self._done()
        self.query_one("#corpus-summary", Static).update(summary_text(stats))
        self.query_one("#corpus-ngrams", Static).update(ngram_table(stats))
        self.query_one("#corpus-baselines", Static).update(baseline_table(stats))
        self.query_one(ZipfPlot).show(stats.zipf_curves, stats.zipf)
        with self.prevent(Select.Changed):
            self.query_one("#corpus-token", Select).value = stats.token

    @on(Select.Changed, "#corpus-token")
    def _switch_token(self, event: Select.Changed) -> None:
        cached = self.app.stats.get(event.value)
        if cached is not None:
            self.token = event.value
            self.show(cached)
        else:
            self.load(self.source, event.value)

    @on(Input.Submitted, "#corpus-source")
    def _switch_source(self, event: Input.Submitted) -> None:
        source = event.value.strip()
        if not source:
            return
        if self.app.training.running:
            self.app.notify("stop training (F7) before switching the corpus", severity="warning")
            return
        self.load(source, self.token)

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.CANCELLED:
            return  # a newer load took over; its own end hides the bar
        if event.state == WorkerState.ERROR:
            self._done()
            error = self.query_one("#corpus-error", Static)
            error.update(notify_error(self, event.worker.error, "corpus"))
            error.display = True
