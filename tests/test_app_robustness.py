"""The app under abuse: tiny terminals, resize storms mid-run, failing workers, a 100 kB paste."""
import importlib
from types import SimpleNamespace

import pytest
from app_support import TINY, resize, train_to_end, wait_for, wait_for_stats
from textual import events

from tui.app import MIN_HEIGHT, MIN_WIDTH, create_app
from tui.notify import MAX_LINE
from tui.panes.corpus import ngram_table
from tui.panes.generate import MAX_PROMPT, GeneratePane
from tui.screens.help import HelpScreen

LONG = dict(TINY, epochs=1000)  # runs until stopped
TRIO = ("#corpus", "#training", "#generate")
# every change between the four sizes, wide to tiny and back
STORM = [(80, 24), (40, 12), (20, 5), (120, 40), (40, 12), (80, 24), (20, 5), (40, 12), (120, 40), (20, 5),
         (80, 24), (120, 40)]
# a message with markup-like brackets: shown as typed, it must not reach the markup parser
FAILURE = "simulated failure [/bold] at [step]"


def visible(app, selector: str) -> bool:
    widget = app.query_one(selector)
    return widget.display and widget.region.area > 0


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector).render())


def errors(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


def panes_fit(app, size) -> bool:
    """Laid out for ``size``: no notice, the panes inside the screen; all three at 120x40, else one."""
    shown = [s for s in TRIO if visible(app, s)]
    return (app.screen.size == size and not visible(app, "#too-small")
            and len(shown) == (3 if size == (120, 40) else 1)
            and all(app.query_one(s).region.right <= size[0] and app.query_one(s).region.bottom <= size[1]
                    for s in shown))


def notice_shown(app, size) -> bool:
    """The too-small notice alone, naming the terminal's size and the minimum."""
    notice = text_of(app, "#too-small")
    return (app.screen.size == size and visible(app, "#too-small")
            and not any(visible(app, s) for s in TRIO + ("#tabs",))
            and f"{size[0]}x{size[1]}" in notice and f"needs {MIN_WIDTH}x{MIN_HEIGHT}" in notice)


async def settles(pilot, check, size) -> None:
    await wait_for(pilot, lambda: check(pilot.app, size), what=f"{check.__name__} at {size}")


@pytest.mark.parametrize("size", [(40, 12), (20, 5)])
async def test_too_small_terminal_shows_a_notice_and_growing_back_restores_the_panes(tiny_corpus, size):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=size) as pilot:
        await wait_for_stats(pilot, app)  # the statistics arrive while the panes are hidden
        await settles(pilot, notice_shown, size)
        await pilot.press("f1")             # keys still work: help opens and closes
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.resize_terminal(120, 40)
        await settles(pilot, panes_fit, (120, 40))
        await wait_for(pilot, lambda: app.focused is app.query_one("#gen-prompt"), what="the prompt's cursor")
        await pilot.resize_terminal(*size)
        await settles(pilot, notice_shown, size)
        await pilot.resize_terminal(80, 24)
        await settles(pilot, panes_fit, (80, 24))
        assert app.is_running and app.return_code is None


async def test_minimum_size_is_usable_and_one_less_is_not(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(MIN_WIDTH, MIN_HEIGHT)) as pilot:
        await settles(pilot, panes_fit, (MIN_WIDTH, MIN_HEIGHT))
        app.action_show_view("training")
        await pilot.pause()
        inside = app.query_one("#training").content_region
        controls = [*app.query("#train-buttons Button"), app.query_one("#train-status")]
        assert all(w.region.area and inside.contains_region(w.region) for w in controls), [
            (w.id, w.region) for w in controls]
        for size in [(MIN_WIDTH - 1, MIN_HEIGHT), (MIN_WIDTH, MIN_HEIGHT - 1)]:
            await pilot.resize_terminal(*size)
            await settles(pilot, notice_shown, size)


async def test_resize_storm_while_training_and_generating(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.training.position.global_step > 0, what="first step")
        trainer, pane = app.trainer, app.query_one(GeneratePane)
        pane.query_one("#gen-length").value = "20000"  # 80 s at the reading pace: it outlasts the storm
        pane.write("the time traveller ")
        await wait_for(pilot, lambda: len(pane.output) > 0, what="the first generated chunk")
        step, written = trainer.global_step, len(pane.output)
        for _ in range(2):
            for i, size in enumerate(STORM):
                await resize(pilot, *size)
                if i % 2:  # every other size is laid out; the others pile up as in a real storm
                    await pilot.pause(0.02)
        await wait_for(pilot, lambda: trainer.global_step > step + 5, what="training to go on")
        await wait_for(pilot, lambda: len(pane.output) > written, what="generation to go on")
        assert app.is_running and app.return_code is None and app.training.running
        await resize(pilot, 80, 24)
        await settles(pilot, panes_fit, (80, 24))
        await resize(pilot, 120, 40)
        await settles(pilot, panes_fit, (120, 40))
        assert app.screen.has_class("-wide") and app.screen.has_class("-tall")
        assert app.focused is None or app.focused.region.area > 0  # no focus left on a hidden widget
        # still answers keys (one press while training runs: pilot.press waits for an idle CPU)
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.training.paused, what="the pause")
        assert "paused" in text_of(app, "#train-status")
        await pilot.press("ctrl+g", "escape")  # Esc in the prompt stops writing
        await wait_for(pilot, lambda: "stopped after" in text_of(app, "#gen-status"), what="Esc to stop writing")
        await pilot.press("h", "i")
        assert app.query_one("#gen-prompt").value == "hi"
        await pilot.press("f7")
        await wait_for(pilot, lambda: not app.training.running, what="training to stop")
        assert text_of(app, "#train-status").startswith("stopped") and not errors(app)


def failing_after(original, records: int):
    """``original`` (a generator function) that raises RuntimeError(FAILURE) after ``records`` items."""
    def run(*args, **kwargs):
        for i, item in enumerate(original(*args, **kwargs)):
            if i == records:
                raise RuntimeError(FAILURE + "\nsecond line of a long torch message")
            yield item
    return run


async def test_training_worker_error_is_a_notice_not_a_crash(tiny_corpus, monkeypatch, capfd):
    from engine.train import Trainer

    monkeypatch.setattr(Trainer, "run", failing_after(Trainer.run, 20))
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        await pilot.press("f5")
        await wait_for(pilot, lambda: errors(app), what="the error notification")
        await wait_for(pilot, lambda: not app.training.running, what="the run to end")
        assert errors(app) == [f"RuntimeError: {FAILURE}"]
        assert text_of(app, "#train-error") == f"RuntimeError: {FAILURE}"
        assert text_of(app, "#train-status").startswith("failed")
        assert app.is_running and app.return_code is None
        assert not app.query_one("#train-start").disabled  # the user can try again
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and FAILURE not in out + err


async def test_generation_worker_error_is_a_notice_not_a_crash(tiny_corpus, monkeypatch, capfd):
    generation = importlib.import_module("engine.generate")  # the module: engine.generate is the function

    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_end(pilot, app)
        monkeypatch.setattr(generation, "generate", failing_after(generation.generate, 3))
        pane = app.query_one(GeneratePane)
        pane.write("the ")
        await wait_for(pilot, lambda: errors(app), what="the error notification")
        await wait_for(pilot, lambda: FAILURE in text_of(app, "#gen-status"), what="the inline error")
        assert errors(app) == [f"RuntimeError: {FAILURE}"]
        assert text_of(app, "#gen-status") == f"RuntimeError: {FAILURE}"
        assert len(pane.output) == 3  # what was written before the failure stays
        assert app.is_running and app.return_code is None
        monkeypatch.undo()                  # the next prompt writes again
        pane.query_one("#gen-length").value = "20"
        pane.write("the ")
        await wait_for(pilot, lambda: text_of(app, "#gen-status").startswith("20 characters · log p"),
                       what="a working run")
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and FAILURE not in out + err


async def test_100kb_paste_is_cut_to_the_cap_and_still_generates(tiny_corpus):
    from engine.generate import generate

    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_end(pilot, app)
        pane = app.query_one(GeneratePane)
        pane.query_one("#gen-mode").value = "greedy"
        pane.query_one("#gen-length").value = "50"
        book = tiny_corpus.read_text(encoding="utf-8")
        paste = (book * (100_000 // len(book) + 1))[:100_000]  # many lines of real text
        prompt = app.query_one("#gen-prompt")
        prompt.focus()
        prompt.post_message(events.Paste(paste))
        await wait_for(pilot, lambda: prompt.value, what="the paste")
        expected_prompt = " ".join(paste.splitlines())[:MAX_PROMPT]
        assert prompt.value == expected_prompt and prompt.cursor_position == MAX_PROMPT
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
        assert any("cut" in w and f"{MAX_PROMPT:,}" in w for w in warnings), warnings
        await pilot.press("x")  # full: a typed key is refused, the app answers it
        assert prompt.value == expected_prompt
        await pilot.press("enter")
        await wait_for(pilot, lambda: text_of(app, "#gen-status").startswith("50 characters · log p"),
                       what="generation")
        trainer = app.trainer
        assert pane.prompt == expected_prompt
        assert pane.output == "".join(generate(trainer.snapshot_model(), trainer.vocab, expected_prompt, 50,
                                               temperature=0.0, token="char"))
        await pilot.press("up")  # the long prompt is in the history like any other
        assert prompt.value == expected_prompt


async def test_paste_joins_lines_and_replaces_the_selection(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(80, 24)) as pilot:
        prompt = app.query_one("#gen-prompt")
        prompt.focus()
        prompt.value = "abc"
        prompt.selection = (1, 2)  # "b"
        prompt.post_message(events.Paste("the time\ntraveller"))
        await wait_for(pilot, lambda: prompt.value != "abc", what="the paste")
        assert prompt.value == "athe time travellerc"
        assert not [n for n in app._notifications if n.severity == "warning"]


async def test_100kb_corpus_path_with_brackets_is_one_short_error_line(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        source = app.query_one("#corpus-source")
        source.focus()
        source.post_message(events.Paste("/no[/b]" * 15_000))  # markup-like, and far past any file name
        await wait_for(pilot, lambda: len(source.value) == 105_000, what="the paste")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.query_one("#corpus-error").display, what="the corpus error")
        line = text_of(app, "#corpus-error")
        assert "/no[/b]" in line and len(line) <= MAX_LINE and "\n" not in line
        assert app.is_running and errors(app) == [line]
        assert app.corpus_text.name == str(tiny_corpus)


def test_ngram_table_shows_brackets_as_typed():
    from rich.console import Console

    stats = SimpleNamespace(token="char", top={1: [("[", 9)], 2: [("[/", 5)], 3: [("[/]", 2)]})
    console = Console(width=80, record=True)
    console.print(ngram_table(stats))  # a raw corpus's grams are not Rich markup
    assert "[/]" in console.export_text()
