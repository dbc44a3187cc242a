"""A one-line input that recalls earlier entries with Up and Down, like a shell."""
from __future__ import annotations

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
