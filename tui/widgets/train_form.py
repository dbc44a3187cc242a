"""The hyperparameter form: one field per ``TrainConfig`` attribute a user tunes while watching."""
from __future__ import annotations

import dataclasses

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Input, Label, Select

# TrainConfig field -> (label, choices); choices None: a number typed in an Input
FIELDS = {
    "cell": ("cell", ("rnn", "gru", "lstm")),
    "token": ("token", ("char", "word")),
    "mode": ("text", ("book", "raw")),  # book: letters a-z only; raw: every character (any script)
    "iterator": ("iterator", ("random", "sequential")),
    "hidden": ("hidden", None),
    "layers": ("layers", None),
    "dropout": ("dropout", None),
    "embed": ("embedding", None),
    "weight_decay": ("weight decay", None),
    "steps": ("steps", None),
    "batch": ("batch", None),
    "lr": ("learning rate", None),
    "schedule": ("lr schedule", ("constant", "cosine")),
    "clip": ("clip θ", None),
    "optimizer": ("optimiser", ("sgd", "adam")),
    "epochs": ("epochs", None),
    "device": ("device", ("auto", "cpu", "cuda")),
}
INTEGERS = ("hidden", "layers", "embed", "steps", "batch", "epochs")
# refilled with the new cell's defaults when the cell changes
PER_CELL = ("hidden", "layers", "dropout", "embed", "weight_decay", "batch", "schedule")


class TrainForm(Grid):
    """Label/field pairs in a grid; :meth:`config` turns them into a validated TrainConfig."""

    DEFAULT_CSS = """
    TrainForm {
        grid-size: 4;
        grid-columns: auto 1fr auto 1fr;
        grid-gutter: 0 1;
        height: auto;
    }
    TrainForm Label { padding: 0 0 0 1; }
    TrainForm Input.-invalid-field, TrainForm Select.-invalid-field { background: $error 30%; }
    """

    def compose(self) -> ComposeResult:
        for name, (label, choices) in FIELDS.items():
            yield Label(label)
            if choices is None:
                kind = "integer" if name in INTEGERS else "number"
                yield Input(type=kind, compact=True, id=f"field-{name}", valid_empty=False)
            else:
                yield Select([(c, c) for c in choices], allow_blank=False, compact=True, id=f"field-{name}")

    @on(Select.Changed, "#field-cell")
    def _cell_changed(self, event: Select.Changed) -> None:
        from engine.config import TrainConfig

        optimizer = self.query_one("#field-optimizer", Select).value
        defaults = TrainConfig(cell=event.value, optimizer=optimizer if isinstance(optimizer, str) else "adam")
        for name in (*PER_CELL, "lr"):
            value = getattr(defaults, name)
            if isinstance(value, str):
                self.query_one(f"#field-{name}", Select).value = value
            else:
                self.query_one(f"#field-{name}", Input).value = f"{value:g}"

    def fill(self, config) -> None:
        for name, (_, choices) in FIELDS.items():
            value = getattr(config, name)
            widget = self.query_one(f"#field-{name}")
            if choices is None:
                widget.value = f"{value:g}" if isinstance(value, float) else str(value)
            elif value in choices:
                widget.value = value
            widget.remove_class("-invalid-field")

    def config(self, base):
        """``base`` with the form's values; raises ConfigError naming the first bad field."""
        from engine.errors import ConfigError

        values = {}
        for name, (label, choices) in FIELDS.items():
            widget = self.query_one(f"#field-{name}")
            widget.remove_class("-invalid-field")
            raw = widget.value
            try:
                values[name] = raw if choices is not None else (int if name in INTEGERS else float)(raw)
            except ValueError:
                widget.add_class("-invalid-field")
                kind = "a whole number" if name in INTEGERS else "a number"
                raise ConfigError(f"{label}: {raw!r} is not {kind}") from None
        config = dataclasses.replace(base, **values)
        try:
            config.validate()
        except ConfigError as exc:
            bad = next((n for n in FIELDS if str(exc).startswith(f"{n} ")), None)
            if bad:
                self.query_one(f"#field-{bad}").add_class("-invalid-field")
            raise
        return config

    def set_locked(self, locked: bool) -> None:
        """The hyperparameters of a trainer are fixed; Reset unlocks them."""
        for widget in self.query("Input, Select"):
            widget.disabled = locked
