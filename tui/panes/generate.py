"""The Generate pane: type a prefix, watch the model continue it one token at a time (d2l 8.5.4).

Text comes from ``engine.generate.generate`` on ``Trainer.snapshot_model()``, the current
weights, so it works while training runs.  The thread posts ~40 ms chunks.
"""
from __future__ import annotations

import time
from functools import partial

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Label, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from engine.errors import ConfigError
from engine.escape import printable
from tui.messages import GeneratedChunk, GenerationEnded, Notice
from tui.notify import error_line, notify_error
from tui.widgets.prompt import PromptInput

CHUNK = 0.04        # seconds of text per message
PACE = 1 / 250      # at most this many tokens a second, so a reader can watch the model write
MODES = [("greedy", "greedy"), ("sampled", "sampled"), ("beam", "beam")]
# characters: a prefix only sets the hidden state, whose memory is far shorter; a 100 kB paste is cut
MAX_PROMPT = 2_000
SHOWN_UNKNOWN = 10  # unknown tokens named in the warning


def stream(pane, run: int, trainer, prompt: str, length: int, temperature: float, top_k: int | None,
           beam: int | None = None) -> None:
    """Runs in a thread: generate from a snapshot of the current weights, posting chunks of text,
    then the text's total log-probability (a beam search posts its best text and every candidate)."""
    from engine.beam import beam_search, sequence_log_prob
    from engine.generate import generate, unknown_in_prefix

    worker = get_current_worker()
    token = trainer.config.token
    unknown = unknown_in_prefix(trainer.vocab, prompt, token)
    if unknown:
        named = " ".join(repr(printable(unseen)) for unseen in unknown[:SHOWN_UNKNOWN])
        named += " …" if len(unknown) > SHOWN_UNKNOWN else ""
        pane.post_message(Notice(f"not in the vocabulary, read as <unk>: {named}"))
    model = trainer.snapshot_model()
    if beam is not None:  # ---- beam search: the whole continuation at once, then every candidate
        found = beam_search(model, trainer.vocab, prompt, length, beam, token=token)
        pane.post_message(GeneratedChunk(run, found[0].text))
        pane.post_message(GenerationEnded(run, False, found[0].log_prob, [(c.text, c.log_prob) for c in found]))
        return
    buffer: list[str] = []
    written: list[str] = []
    start = sent = time.monotonic()
    cancelled = False
    try:
        pieces = generate(model, trainer.vocab, prompt, length, temperature=temperature, top_k=top_k,
                          token=token)
        for i, piece in enumerate(pieces):
            if worker.is_cancelled:
                cancelled = True
                break
            buffer.append(piece)
            written.append(piece)
            now = time.monotonic()
            if now - sent >= CHUNK:
                pane.post_message(GeneratedChunk(run, "".join(buffer)))
                buffer, sent = [], now
            wait = start + (i + 1) * PACE - now
            if wait > 0:
                time.sleep(wait)
    finally:
        if buffer:
            pane.post_message(GeneratedChunk(run, "".join(buffer)))
    log_prob = None if cancelled else sequence_log_prob(model, trainer.vocab, prompt, "".join(written), token=token)
    pane.post_message(GenerationEnded(run, cancelled, log_prob))


class GeneratePane(Vertical):
    """Prompt, sampling controls and the streamed output; a new prompt cancels the old run."""

    BORDER_TITLE = "Generate"
    BINDINGS = [Binding("escape", "stop", "Stop writing", show=False, id="generate-stop")]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.run = 0            # id of the newest generation; older chunks are dropped
        self.prompt = ""
        self.output = ""
        self.candidates: list[tuple[str, float]] = []  # a beam search's, best first

    def compose(self) -> ComposeResult:
        yield PromptInput(placeholder="type a prefix, e.g. time traveller, then Enter", max_length=MAX_PROMPT,
                          id="gen-prompt")
        with Horizontal(id="gen-controls", classes="row"):
            yield Select(MODES, value="sampled", allow_blank=False, compact=True, id="gen-mode")
            yield Label("temp", classes="field-label sampling-field")
            yield Input("0.8", type="number", compact=True, id="gen-temperature", classes="sampling-field")
            yield Label("top-k", classes="field-label sampling-field")
            yield Input("", type="integer", placeholder="all", compact=True, id="gen-top-k", classes="sampling-field")
            yield Label("length", classes="field-label")
            yield Input("300", type="integer", compact=True, id="gen-length")
            yield Label("width", classes="field-label beam-field")
            yield Input("4", type="integer", compact=True, id="gen-beam", classes="beam-field")
        with VerticalScroll(id="gen-scroll"):
            yield Static("train a model (F5) or load one (Ctrl+O), then type a prefix", id="gen-output")
        yield Static(id="gen-status", classes="status", markup=False)  # error lines hold [brackets]

    def settings(self) -> tuple[int, float, int | None, int | None]:
        """(length, temperature, top_k, beam width) from the controls; greedy is temperature 0; the
        width is None unless the mode is beam."""

        def number(widget_id: str, kind, name: str):
            raw = self.query_one(widget_id, Input).value.strip()
            if not raw:
                return None
            try:
                return kind(raw)
            except ValueError:
                raise ConfigError(f"{name}: {raw!r} is not a number") from None

        length = number("#gen-length", int, "length")
        temperature = number("#gen-temperature", float, "temperature")
        top_k = number("#gen-top-k", int, "top-k")
        if length is None:
            raise ConfigError("length: give the number of tokens to write")
        mode = self.query_one("#gen-mode", Select).value
        if mode == "beam":
            width = number("#gen-beam", int, "beam width")
            if width is None:
                raise ConfigError("beam width: give the number of continuations to keep (1 to 32)")
            return length, 0.0, None, width
        if mode == "greedy":
            temperature = 0.0
        elif temperature is None or temperature <= 0:
            raise ConfigError("temperature: sampling needs a positive temperature (or choose greedy)")
        return length, temperature, top_k, None

    @on(Select.Changed, "#gen-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        """A beam search takes a width instead of a temperature and a top-k."""
        self.query_one("#gen-controls").set_class(event.value == "beam", "-beam")

    @on(Input.Submitted, "#gen-prompt")
    def _submitted(self, event: Input.Submitted) -> None:
        prompt = self.query_one(PromptInput)
        prompt.remember(event.value)
        prompt.value = ""  # like a shell: Up brings it back
        self.write(event.value)

    def write(self, prompt: str) -> None:
        """Cancel any running generation and start writing after ``prompt``."""
        status = self.query_one("#gen-status", Static)
        try:
            length, temperature, top_k, beam = self.settings()
            if beam is not None:
                from engine.beam import check_width

                check_width(beam)
        except ConfigError as exc:  # a control that is not a number, or out of range
            status.update(error_line(exc))
            return
        trainer = self.app.trainer
        if trainer is None:
            status.update("no model yet: start training (F5) or load a checkpoint (Ctrl+O)")
            return
        self.stop()
        self.run += 1
        self.prompt, self.output, self.candidates = prompt, "", []
        self._show()
        status.update("searching…" if beam is not None else "writing… (Esc stops)")
        self.run_worker(partial(stream, self, self.run, trainer, prompt, length, temperature, top_k, beam),
                        name="generate", group="generate", thread=True, exit_on_error=False)

    def stop(self) -> None:
        self.workers.cancel_group(self, "generate")

    def action_stop(self) -> None:
        self.stop()

    @on(GeneratedChunk)
    def _chunk(self, message: GeneratedChunk) -> None:
        if message.run == self.run:
            self.output += message.text
            self._show()

    @on(GenerationEnded)
    def _ended(self, message: GenerationEnded) -> None:
        if message.run == self.run:
            score = "" if message.log_prob is None else f" · log p = {message.log_prob:.2f}"
            self.query_one("#gen-status", Static).update(
                f"stopped after {len(self.output):,} characters" if message.cancelled
                else f"{len(self.output):,} characters{score}")
            if message.candidates:
                self.candidates = message.candidates
                self._show()

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.query_one("#gen-status", Static).update(notify_error(self, event.worker.error, "generate"))

    def _show(self) -> None:
        # text from the model's vocabulary, and a pasted prompt, shown rather than obeyed (engine.escape)
        text = Text.assemble((printable(self.prompt), "bold"), printable(self.output))
        if self.candidates:
            text.append("\n\nbeam candidates (total log-probability):", style="bold")
            for candidate, log_prob in self.candidates:
                text.append(f"\n{log_prob:9.2f}  ", style="dim")
                text.append(printable(candidate))
        self.query_one("#gen-output", Static).update(text)
        self.query_one("#gen-scroll", VerticalScroll).scroll_end(animate=False)
