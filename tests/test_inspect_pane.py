"""The Inspect pane in the app, while a training worker runs, at 120x40 and 80x24: it reads a text
or a corpus span with the current weights, draws the engine's own numbers, follows the keys, and
stays responsive."""
import io
import time

import app_support
import pytest
import torch
from app_support import TINY, wait_for
from rich.console import Console

from engine.inspect import read_text, shown_values
from engine.saliency import saliency_of
from tui.app import create_app
from tui.panes.inspect import InspectPane
from tui.widgets.token_view import TokenView, diverging, heat, probability

# trains until the test stops it; given, so the form keeps them when it shows the LSTM
LONG = dict(TINY, epochs=10_000, cell="lstm", hidden=12, embed=4, layers=1, dropout=0.0, schedule="constant")
pytestmark = pytest.mark.usefixtures("ui_thread_guard")
TEXT = 'the time traveller said "so it is" and smiled'


@pytest.fixture(autouse=True)
def gil_friendly_training(monkeypatch):
    """A tiny model's training step is mostly Python, holding the GIL that the UI thread needs (a
    real model's steps run in torch kernels, which release it; here every key press would wait
    seconds): each minibatch also waits 20 ms (a TrainHooks batch hook on the app's trainers), so
    that training runs at about 40 steps a second."""
    from engine.train import Trainer, TrainHooks

    def slowly(X, Y):
        time.sleep(0.02)
        return X, Y

    class SlowTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs, hooks=TrainHooks(batch=slowly))

    monkeypatch.setattr("tui.training_worker.trainer_class", lambda: SlowTrainer)


async def start_training(pilot, app):
    await app_support.start_training(pilot, app, steps=3)


async def open_inspect(pilot, app) -> InspectPane:
    app.action_show_view("inspect")
    await wait_for(pilot, lambda: bool(app.query("#inspect")), what="the Inspect pane to mount")
    await pilot.pause()
    return app.query_one(InspectPane)


async def read(pilot, pane, text=TEXT):
    before = pane.result
    box = pane.query_one("#inspect-text")
    box.focus()
    box.value = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: pane.result is not None and pane.result is not before
                   and pane.result.reading.tokens[:3] == list(text[:3]), what="the reading")


def table_text(static) -> str:
    console = Console(width=60, file=io.StringIO())
    console.print(static.content)
    return console.file.getvalue()


def rendered(widget) -> str:
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_reads_a_text_while_training_runs_and_draws_the_engines_numbers(tiny_corpus, size):
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=size) as pilot:
        await start_training(pilot, app)
        pane = await open_inspect(pilot, app)
        await read(pilot, pane)
        assert app.training.running, "training should still be running"
        result = pane.result
        expected = read_text(result.model, app.trainer.vocab, TEXT)
        torch.testing.assert_close(result.reading.log_probs_true, expected.log_probs_true)
        view = pane.query_one(TokenView)
        # the book's preprocessing left no quotes in the vocabulary: they are read, and shown, as <unk>
        quotes = {i for i, c in enumerate(TEXT) if c == '"'}
        assert view.tokens == ["<unk>" if i in quotes else c for i, c in enumerate(TEXT)]
        assert view.dim == quotes
        probs = expected.log_probs_true.exp().tolist()
        assert view.colours == [None] + [probability(p) for p in probs]
        assert view.below == app.trainer.vocab.to_tokens(expected.topk_idx[:, 0].tolist())
        assert "the time" in rendered(view)
        status = str(pane.query_one("#inspect-status").render())
        assert f"loss {expected.loss:.3f}" in status and f"{len(TEXT)} tokens" in status
        # the cursor's top-5: move it with the keys
        view.focus()
        await pilot.press("home", "right", "right")
        assert view.cursor == 2
        now = pane.result.reading  # training goes on: the pane may have read again meanwhile
        top = table_text(pane.query_one("#inspect-top"))
        best = app.trainer.vocab.to_tokens(int(now.topk_idx[2, 0]))
        assert repr(best) in top and f"{float(now.topk_p[2, 0]):.3f}" in top
        # colour by a unit: u, Up/Down, a typed number, [ ] for the quantity
        await pilot.press("u", "up", "up", "down")
        assert (pane.mode, pane.key, pane.unit) == ("unit", "l1.h", 1)
        values, lo, hi = shown_values(pane.result.reading.acts, "l1.h", 1)
        assert view.colours == [diverging(v, lo, hi) for v in values.tolist()]
        await pilot.press("1", "1", "enter")
        assert pane.unit == 11
        await pilot.press("9", "9", "enter")
        assert pane.unit == 11 and "units 0 to 11" in str(pane.query_one("#inspect-status").render())
        await pilot.press("left_square_bracket")
        assert pane.key == "l1.c"
        values, lo, hi = shown_values(pane.result.reading.acts, "l1.c", 11)
        assert view.colours == [diverging(v, lo, hi) for v in values.tolist()]
        assert app.training.running
        app.training.stop()
        await app.workers.wait_for_complete()


async def test_saliency_follows_the_cursor_and_ranked_units_can_be_picked(tiny_corpus, monkeypatch):
    monkeypatch.setattr("tui.panes.inspect.REFRESH", 3600)  # one reading throughout: the numbers hold still
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_training(pilot, app)
        pane = await open_inspect(pilot, app)
        await read(pilot, pane)
        view = pane.query_one(TokenView)
        view.focus()
        await pilot.press("home", *["right"] * 9, "s")
        await wait_for(pilot, lambda: pane.saliency is not None and pane.saliency[0] == 9, what="saliency")
        result = pane.result
        expected = saliency_of(result.model, result.reading, 9).tolist()
        assert pane.saliency[1] == pytest.approx(expected, rel=1e-6, abs=1e-9)
        assert view.colours[:10] == [heat(v, max(expected)) for v in expected]
        assert view.colours[10:] == [None] * (len(TEXT) - 10)
        await pilot.press("right")
        await wait_for(pilot, lambda: pane.saliency[0] == 10, what="saliency at the new cursor")
        # the Units tab: the ranking of the chosen quantity; Enter on an entry colours by that unit
        pane.query_one("#inspect-side").active = "inspect-tab-units"
        await pilot.pause()
        ranked = pane.query_one("#inspect-ranked")
        assert ranked.option_count > 0
        ranked.focus()
        ranked.highlighted = 0
        picked = ranked.get_option_at_index(0).id  # feature:key:unit
        await pilot.press("enter")
        assert (pane.mode, f"{pane.key}:{pane.unit}") == ("unit", picked.split(":", 1)[1])
        assert pane.key == "l1.h"
        # the Gates tab draws the saturation scatter
        pane.query_one("#inspect-side").active = "inspect-tab-gates"
        await pilot.pause()
        assert "gate saturation" in pane.query_one("#inspect-gates").render().plain
        app.training.stop()
        await app.workers.wait_for_complete()


async def test_corpus_span_refresh_while_training_and_errors(tiny_corpus, monkeypatch):
    monkeypatch.setattr("tui.panes.inspect.REFRESH", 0.2)
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_inspect(pilot, app)
        pane.query_one("#inspect-text").value = "no model"
        pane.query_one("#inspect-text").focus()
        await pilot.press("enter")
        assert "no model yet" in str(pane.query_one("#inspect-status").render())
        await start_training(pilot, app)
        span = pane.query_one("#inspect-span")
        span.focus()
        span.value = "10:x"
        await pilot.press("enter")
        assert "START:LEN" in str(pane.query_one("#inspect-status").render())
        span.value = "100:50"
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.result is not None, what="the span's reading")
        assert len(pane.result.reading.tokens) == 50
        unit_box = pane.query_one("#inspect-unit")
        unit_box.focus()
        unit_box.value = "3"
        await pilot.press("enter")
        assert (pane.mode, pane.unit) == ("unit", 3)
        unit_box.value = "-"
        await pilot.press("enter")
        assert pane.unit == 3 and "whole number" in str(pane.query_one("#inspect-status").render())
        first_step = pane.result.step
        await wait_for(pilot, lambda: pane.result.step > first_step, what="a refresh with newer weights")
        span.focus()
        span.value = "99999999:5"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "span start" in str(pane.query_one("#inspect-status").render()),
                       what="the one-line error")
        step = pane.result.step  # the refreshes go on with the text on screen, and say the error once
        await wait_for(pilot, lambda: pane.result.step > step, what="a refresh after the error")
        assert len(pane.result.reading.tokens) == 50
        assert "span start" in str(pane.query_one("#inspect-status").render())
        assert sum("span start" in n.message for n in app._notifications) == 1
        app.training.stop()
        await app.workers.wait_for_complete()


async def test_f1_on_the_pane_opens_help_at_its_section_and_the_palette_finds_it(tiny_corpus):
    from tui.commands import COMMANDS
    from tui.screens.help import HelpScreen

    assert any(action == "show_view('inspect')" for _, _, action in COMMANDS)
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_inspect(pilot, app)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        assert app.screen.section == "inspect"
        box = app.screen.query_one("#help-box")
        await wait_for(pilot, lambda: box.scroll_y > 0, what="help scrolled to the Inspect section")


async def test_the_pane_answers_keys_while_a_reading_is_under_way(tiny_corpus, monkeypatch):
    import threading

    import engine.inspect

    opened, real = threading.Event(), engine.inspect.read_text

    def held(*args, **kwargs):  # the reading waits until the test opens the gate
        assert opened.wait(20), "the test never opened the gate"
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.inspect, "read_text", held)
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_training(pilot, app)
        pane = await open_inspect(pilot, app)
        box = pane.query_one("#inspect-text")
        box.focus()
        box.value = TEXT
        await pilot.press("enter")
        assert "reading…" in str(pane.query_one("#inspect-status").render())
        span = pane.query_one("#inspect-span")
        span.focus()
        await pilot.press("1", "2", "colon", "3")
        assert span.value == "12:3" and pane.result is None
        opened.set()
        await wait_for(pilot, lambda: pane.result is not None, what="the reading once let through")
        assert pane.query_one(TokenView).tokens[:3] == ["t", "h", "e"]
        app.training.stop()
        await app.workers.wait_for_complete()
