"""One resolver: engine.config.resolve is what the command line, the app's form, ``rnnplay
compare`` and checkpoint loading all turn the options given into; for the same options they give
the same TrainConfig, and that config matches the rules written out here by hand."""
import itertools
from dataclasses import asdict

import pytest
from textual.app import App

import assets
from engine.checkpoint import config_of
from engine.config import CELLS, DEVICES, ITERATORS, OPTIMIZERS, SCHEDULES, resolve
from engine.corpus import MODES
from engine.errors import ConfigError
from engine.vocab import TOKEN_LEVELS
from tui.cmd_compare import cell_config
from tui.options import given_train_options, train_config_from_args
from tui.parser import build_parser
from tui.widgets.train_form import FIELDS, TrainForm

# the rules, written out independently of engine/config.py: (hidden, layers, batch, embed, schedule)
SIZES = {"rnn": (256, 1, 16, 0, "constant"), "gru": (256, 2, 32, 0, "cosine"), "lstm": (512, 1, 32, 64, "cosine")}
LR, BUDGET = 0.05, 60.0
ROWS = list(itertools.product(CELLS, (None, "sgd", "adam"), (False, True), (False, True)))


def given_of(cell, optimizer, lr_given, budget_given) -> dict:
    given = {"cell": cell}
    if optimizer:
        given["optimizer"] = optimizer
    if lr_given:
        given["lr"] = LR
    if budget_given:
        given["time_budget"] = BUDGET
    return given


def flags_of(given: dict) -> list[str]:
    names = {"time_budget": "--time-budget"}
    return [arg for field, value in given.items() for arg in (names.get(field, f"--{field}"), str(value))]


@pytest.mark.parametrize("cell, optimizer, lr_given, budget_given", ROWS)
def test_resolve_follows_the_rules(cell, optimizer, lr_given, budget_given):
    config = resolve(given_of(cell, optimizer, lr_given, budget_given))
    expected_optimizer = optimizer or ("sgd" if lr_given else "adam")  # an lr alone: the book's SGD
    default_lr = 1.0 if expected_optimizer == "sgd" else 0.008 if cell == "lstm" else 0.003
    assert (config.cell, config.optimizer, config.lr) == (cell, expected_optimizer, LR if lr_given else default_lr)
    assert (config.hidden, config.layers, config.batch, config.embed, config.schedule) == SIZES[cell]
    # a time budget without epochs: the clock ends the run
    assert (config.time_budget, config.epochs) == ((BUDGET, 10 ** 6) if budget_given else (0.0, 30))


@pytest.mark.parametrize("cell, optimizer, lr_given, budget_given", ROWS)
def test_the_cli_compare_and_checkpoints_give_the_resolvers_config(cell, optimizer, lr_given, budget_given):
    given = given_of(cell, optimizer, lr_given, budget_given)
    expected = resolve(given)
    parser = build_parser()
    assert train_config_from_args(parser.parse_args(["train", *flags_of(given)])) == expected
    assert resolve(given_train_options(parser.parse_args(flags_of(given)))) == expected  # the app's preset
    if budget_given and not optimizer and not lr_given:  # what compare takes: cells and a budget
        args = parser.parse_args(["compare", "--cells", cell, "--budget", str(BUDGET)])
        assert cell_config(cell, args) == expected
    assert config_of({"config": asdict(expected)}, "run.safetensors") == expected


class FormApp(App):
    CSS_PATH = str(assets.path("rnnplay.tcss"))


async def fill_in(pilot, form: TrainForm, given: dict) -> None:
    """Choose and type what ``given`` holds, as a person would: the cell, the learning rate, then
    the optimiser (a learning rate typed alone turns it to SGD, as on the command line)."""
    for name in ("cell", "lr", "optimizer"):
        if name in given:
            form.query_one(f"#field-{name}").value = given[name] if name != "lr" else str(given[name])
            await pilot.pause()


async def test_the_form_gives_the_resolvers_config_for_the_same_inputs():
    app = FormApp()
    async with app.run_test(size=(120, 40)) as pilot:
        for cell, optimizer, lr_given, budget_given in ROWS:
            given = given_of(cell, optimizer, lr_given, budget_given)
            preset = {"time_budget": BUDGET} if budget_given else {}  # the form has no field for it: the CLI's
            typed = TrainForm(preset)
            await app.mount(typed)
            await fill_in(pilot, typed, given)
            assert typed.config() == resolve(given), given
            await typed.remove()
            preset_form = TrainForm(given)  # everything given on the command line, nothing typed
            await app.mount(preset_form)
            await pilot.pause()
            assert preset_form.config() == resolve(given), given
            await preset_form.remove()


async def test_the_forms_preset_survives_the_cell_and_a_bad_field_is_marked():
    """``rnnplay --cell lstm --hidden 64`` opens the form with 64 units, not the LSTM's 512 (the
    cell's field changing as the form opens used to refill them)."""
    app = FormApp()
    async with app.run_test(size=(120, 40)) as pilot:
        form = TrainForm(given_train_options(build_parser().parse_args(["--cell", "lstm", "--hidden", "64"])))
        await app.mount(form)
        await pilot.pause()
        shown = {name: form.query_one(f"#field-{name}").value for name in ("cell", "hidden", "embed", "lr")}
        assert shown == {"cell": "lstm", "hidden": "64", "embed": "64", "lr": "0.008"}
        form.query_one("#field-cell").value = "gru"
        await pilot.pause()
        assert form.query_one("#field-hidden").value == "64" and form.query_one("#field-layers").value == "2"
        form.query_one("#field-dropout").value = "1.5"
        with pytest.raises(ConfigError) as caught:
            form.config()
        assert caught.value.field == "dropout" and form.query_one("#field-dropout").has_class("-invalid-field")


def test_the_form_takes_its_choices_from_the_engine():
    choices = {name: options for name, (_, options) in FIELDS.items() if options is not None}
    assert choices == {"cell": CELLS, "token": TOKEN_LEVELS, "mode": MODES, "iterator": ITERATORS,
                       "schedule": SCHEDULES, "optimizer": OPTIMIZERS, "device": DEVICES}


@pytest.mark.parametrize("given, field", [({"hidden": 0}, "hidden"), ({"cell": "transformer"}, "cell"),
                                          ({"optimizer": "rmsprop"}, "optimizer"), ({"lr": -1.0}, "lr"),
                                          ({"hiden": 8}, "hiden"), ({"cell": "rnn", "embed": 8}, "embed")])
def test_a_config_error_carries_its_field(given, field):
    with pytest.raises(ConfigError, match=field) as caught:
        resolve(given)
    assert caught.value.field == field


def test_a_checkpoint_from_before_a_field_existed_trains_as_its_absence_meant():
    saved = {k: v for k, v in asdict(resolve(cell="lstm")).items() if k not in ("embed", "schedule", "mode")}
    config = config_of({"config": {**saved, "a_later_field": 1}}, "old.safetensors")
    assert (config.embed, config.schedule, config.mode) == (0, "constant", "book")
    assert config_of({"config": {**saved, "embed": 64}}, "x", changes={"epochs": 3}).epochs == 3
    with pytest.raises(ConfigError, match="keeps the checkpoint's configuration"):
        config_of({"config": saved}, "x", changes={"hidden": 8})
