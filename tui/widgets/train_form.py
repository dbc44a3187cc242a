"""The hyperparameter form: one field per ``TrainConfig`` attribute a user tunes while watching.

The form keeps what was *given* (the command line's options it was opened with, and every field
the user changed) apart from what was left to the defaults, as the command line does: the
fields not given show ``engine.config.defaults`` of what was given (choosing the LSTM shows its
sizes, a learning rate typed without choosing an optimiser shows the book's SGD), and
:meth:`TrainForm.config` is ``engine.config.resolve`` of what was given.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Input, Label, Select

from engine.config import CELLS, DEVICES, ITERATORS, OPTIMIZERS, SCHEDULES, defaults, resolve
from engine.corpus import MODES
from engine.errors import ConfigError
from engine.vocab import TOKEN_LEVELS

# TrainConfig field -> (label, choices); choices None: a number typed in an Input
FIELDS = {
    "cell": ("cell", CELLS),
    "token": ("token", TOKEN_LEVELS),
    "mode": ("text", MODES),  # book: letters a-z only; raw: every character (any script)
    "iterator": ("iterator", ITERATORS),
    "hidden": ("hidden", None),
    "layers": ("layers", None),
    "dropout": ("dropout", None),
    "embed": ("embedding", None),
    "weight_decay": ("weight decay", None),
    "steps": ("steps", None),
    "batch": ("batch", None),
    "lr": ("learning rate", None),
    "schedule": ("lr schedule", SCHEDULES),
    "clip": ("clip θ", None),
    "optimizer": ("optimiser", OPTIMIZERS),
    "epochs": ("epochs", None),
    "device": ("device", DEVICES),
}
INTEGERS = ("hidden", "layers", "embed", "steps", "batch", "epochs")


def shown(value) -> str:
    """A field's value as the form shows it."""
    return f"{value:g}" if isinstance(value, float) else str(value)


class TrainForm(Grid):
    """Label/field pairs in a grid; :meth:`config` turns them into a validated TrainConfig.

    ``given``: the options given before the form opened (the command line's); the form's own
    fields among them show their values, the others only reach :meth:`config`."""

    def __init__(self, given: Mapping | None = None, **kwargs):
        super().__init__(**kwargs)
        self.given = dict(given or {})
        self._shown: dict[str, str] = {}  # field -> the value the form last put there itself

    def compose(self) -> ComposeResult:
        for name, (label, choices) in FIELDS.items():
            yield Label(label)
            if choices is None:
                kind = "integer" if name in INTEGERS else "number"
                yield Input(type=kind, compact=True, id=f"field-{name}", valid_empty=False)
            else:
                yield Select([(c, c) for c in choices], allow_blank=False, compact=True, id=f"field-{name}")

    def on_mount(self) -> None:
        self._show(resolve(self.given))

    def fill(self, config, given: Mapping | None = None) -> None:
        """Show ``config``; what counts as given from now on is ``given`` (None: every field, as for
        a loaded run, whose configuration is fixed)."""
        self.given = dict(asdict(config) if given is None else given)
        self._show(config)

    def _show(self, values) -> None:
        for name, value in (asdict(values) if not isinstance(values, dict) else values).items():
            if name in FIELDS:
                self._shown[name] = shown(value)
                widget = self.query_one(f"#field-{name}")
                widget.value = value if FIELDS[name][1] is not None else shown(value)
                widget.remove_class("-invalid-field")

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event) -> None:
        """A field holds a value the form did not put there itself: it was typed or chosen, and is
        given now; the fields not given follow what was given (engine.config.defaults).  The
        field's value now is what counts, not the event's: an event can be older than the form's
        last fill."""
        name = (event.control.id or "").removeprefix("field-")
        self._take_edits()
        if name not in self.given or name in self._shown:
            return
        self.given[name] = self.query_one(f"#field-{name}").value
        if name in ("cell", "optimizer", "lr"):  # the fields whose defaults depend on others
            self._show({field: value for field, value in defaults(self._deciding()).items()
                        if field in FIELDS and field not in self.given})

    def _take_edits(self) -> None:
        """The fields that hold a value the form did not put there were typed or chosen: they
        count as given from now on."""
        for name in list(self._shown):
            value = self.query_one(f"#field-{name}").value
            if shown(value) != self._shown[name]:
                del self._shown[name]
                self.given[name] = value

    def _deciding(self) -> dict:
        """The given fields that decide the others' defaults: the cell, the optimiser, whether a
        learning rate and a time budget were given."""
        return {name: self.given[name] for name in ("cell", "optimizer", "lr", "time_budget") if name in self.given}

    def _read(self, name: str):
        """The given value of ``name``: what its field holds now (a number parsed from an Input), or
        what was given before the form opened for an option the form has no field for."""
        if name not in FIELDS:
            return self.given[name]
        value = self.query_one(f"#field-{name}").value
        if FIELDS[name][1] is not None:
            return value
        try:
            return int(value) if name in INTEGERS else float(value)
        except ValueError:
            kind = "a whole number" if name in INTEGERS else "a number"
            raise ConfigError(f"{FIELDS[name][0]}: {value!r} is not {kind}", name) from None

    def config(self):
        """The TrainConfig of what was given; a ConfigError names (and marks) the bad field."""
        for widget in self.query("Input, Select"):
            widget.remove_class("-invalid-field")
        self._take_edits()
        try:
            return resolve({name: self._read(name) for name in self.given})
        except ConfigError as exc:
            if exc.field in FIELDS:
                self.query_one(f"#field-{exc.field}").add_class("-invalid-field")
            raise

    def set_locked(self, locked: bool) -> None:
        """The hyperparameters of a trainer are fixed; Reset unlocks them."""
        for widget in self.query("Input, Select"):
            widget.disabled = locked
