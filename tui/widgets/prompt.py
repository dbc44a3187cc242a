"""A one-line input that recalls earlier entries with Up and Down, like a shell, and takes pastes
of any size: lines are joined with spaces and the text is cut to ``max_length``, with a notice."""
from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import Input


class PromptInput(Input):
    BINDINGS = [
        Binding("up", "recall(-1)", "Earlier prompt", show=False, id="prompt-earlier"),
        Binding("down", "recall(1)", "Later prompt", show=False, id="prompt-later"),
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.history: list[str] = []
        self._index = 0   # == len(history): the line being typed

    def remember(self, text: str) -> None:
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._index = len(self.history)

    def action_recall(self, delta: int) -> None:
        index = min(max(self._index + delta, 0), len(self.history))
        if index == self._index:
            return
        self._index = index
        self.value = self.history[index] if index < len(self.history) else ""
        self.cursor_position = len(self.value)

    def _on_paste(self, event: events.Paste) -> None:
        # Input's own handler keeps only the first line, and drops a paste past max_length whole
        event.prevent_default()
        event.stop()
        text = " ".join(event.text.splitlines())
        start, end = sorted(self.selection)
        room = max(self.max_length - len(self.value) + end - start, 0) if self.max_length else len(text)
        if len(text) > room:
            self.app.notify(f"the prompt holds {self.max_length:,} characters: the {len(text):,}-character "
                            f"paste was cut", severity="warning")
            text = text[:room]
        self.replace(text, start, end)

    def on_show(self) -> None:
        # Hiding a widget takes its focus away (a tab switch, the too-small notice, a resize to tabs):
        # when the prompt is shown again and nothing else has the focus, it takes the cursor back.
        if self.screen.focused is None:
            self.focus()
