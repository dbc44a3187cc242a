"""Small modal dialogs; each dismisses with the user's choice (None: cancelled)."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class Dialog(ModalScreen[str | None]):
    """A question and a row of buttons; a button's id is the answer, Escape cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="dialog-cancel")]
    AUTO_FOCUS = "Button"  # the first answer; Enter takes it

    def __init__(self, question: str, answers: list[tuple[str, str]]):
        super().__init__(classes="dialog")
        self.question, self.answers = question, answers

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.question, markup=False)  # a question may hold a path with [brackets]
            with Horizontal(classes="dialog-buttons"):
                for answer, text in self.answers:
                    yield Button(text, id=answer, variant="primary" if answer == self.answers[0][0] else "default")

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id if event.button.id != "cancel" else None)


def quit_dialog(where: str) -> Dialog:
    """``where``: what "Save and quit" would write (and replace)."""
    from engine.escape import printable

    return Dialog(f"The model has training that is not saved.\n{printable(where)}",
                  [("save", "Save and quit"), ("quit", "Quit without saving"), ("cancel", "Cancel")])


def replace_dialog(notice: str) -> Dialog:
    """Asks before a save replaces an existing checkpoint (``notice`` says which)."""
    from engine.escape import printable

    return Dialog(f"{printable(notice)}.", [("replace", "Replace it"), ("cancel", "Cancel")])


def discard_dialog() -> Dialog:
    return Dialog("Reset discards training that is not saved.",
                  [("discard", "Discard"), ("cancel", "Cancel")])


class PathDialog(ModalScreen[str | None]):
    """Asks for a checkpoint path, prefilled with a default."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="path-cancel")]
    AUTO_FOCUS = "Input"

    def __init__(self, title: str, default: str):
        super().__init__(classes="dialog")
        self.title_text, self.default = title, default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.title_text)
            yield Input(self.default, id="path-input")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        path = self.query_one(Input).value.strip()
        self.dismiss(path or None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
