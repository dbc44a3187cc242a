"""Layouts at 120x40 and 80x24, corpus switching and its errors, help, the command palette."""
import subprocess
import sys

import pytest

from app_support import TINY, wait_for, wait_for_stats
from textual.widgets import Tab

from tui.app import create_app
from tui.commands import RnnplayCommands
from tui.screens.help import HelpScreen

TRIO = ("#corpus", "#training", "#generate")


def shown(widget) -> bool:
    return all(node.display for node in widget.ancestors_with_self if hasattr(node, "display"))


def visible(app, selector: str) -> bool:
    widget = app.query_one(selector)
    return widget.display and widget.region.area > 0


async def test_wide_terminal_shows_all_three_panes(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert all(visible(app, s) for s in TRIO)
        corpus, training, generate = (app.query_one(s).region for s in TRIO)
        # Corpus above Generate on the left, Training on the right
        assert corpus.x == generate.x < training.x and corpus.y < generate.y


async def test_small_terminal_shows_one_pane_as_tabs_and_follows_resizes(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert [visible(app, s) for s in TRIO] == [True, False, False]
        await pilot.click("#tab-training")
        assert [visible(app, s) for s in TRIO] == [False, True, False]
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert all(visible(app, s) for s in TRIO)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert [visible(app, s) for s in TRIO] == [False, True, False]


async def test_corpus_pane_shows_the_engines_statistics_and_switches_level(tiny_corpus):
    from engine.stats import corpus_stats

    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        expected = corpus_stats(str(tiny_corpus), token="char")
        summary = str(app.query_one("#corpus-summary").render())
        assert f"{expected.chars:,} characters" in summary and f"vocabulary {expected.vocab_size}" in summary
        app.query_one("#corpus-token").value = "word"
        await wait_for(pilot, lambda: "word" in app.stats, what="word statistics")
        assert app.stats["word"].top == corpus_stats(str(tiny_corpus), token="word").top
        assert "word tokens" in str(app.query_one("#corpus-summary").render())


async def test_bad_corpus_path_is_an_error_and_the_app_stays_up(tiny_corpus, tmp_path):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        source = app.query_one("#corpus-source")
        source.value = str(tmp_path / "missing.txt")
        source.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "no such file" in str(app.query_one("#corpus-error").render()),
                       what="the corpus error")
        await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications), what="the notification")
        assert app.is_running
        assert app.corpus_text.name == str(tiny_corpus)  # the old corpus is kept


async def test_missing_corpus_at_launch_is_an_error_not_a_crash(tmp_path):
    app = create_app(corpus=str(tmp_path / "nope.txt"), given=TINY)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "no such file" in str(app.query_one("#corpus-error").render()),
                       what="the corpus error")
        await pilot.press("f5")
        assert "no corpus yet" in str(app.query_one("#train-error").render()) and app.is_running


async def test_help_screen_and_palette_commands(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        provider = RnnplayCommands(app.screen)
        titles = [hit.text async for hit in provider.search("train start")]
        assert "Train: start or resume" in titles
        discovered = [hit.text async for hit in provider.discover()]
        assert "Checkpoint: save" in discovered and "Help" in discovered


def test_app_module_does_not_import_torch():
    code = "import sys, tui.app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_forecast_tab_mounts_the_forecast_pane_on_demand(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        assert not app.query("#forecast")
        tabs = [tab.id for tab in app.query(Tab)]
        for _ in range(tabs.index("tab-forecast")):
            await pilot.press("f2")
        await wait_for(pilot, lambda: bool(app.query("#forecast")), what="the Forecast pane")
        await pilot.pause()
        assert visible(app, "#forecast") and not any(visible(app, s) for s in TRIO)
        for _ in range(len(tabs) - tabs.index("tab-forecast")):  # back round to Corpus: the three panes again
            await pilot.press("f2")
        await pilot.pause()
        assert all(visible(app, s) for s in TRIO) and not visible(app, "#forecast")


@pytest.mark.parametrize("size, tab", [((120, 40), "forecast"), ((80, 24), "corpus"), ((80, 24), "paths")])
async def test_a_tab_switch_takes_the_focus_from_the_pane_it_hides(tiny_corpus, size, tab):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=size) as pilot:
        await wait_for_stats(pilot, app)
        app.query_one("#tabs").active = "tab-generate"
        await wait_for(pilot, lambda: visible(app, "#generate"), what="the Generate tab")
        prompt = app.query_one("#gen-prompt")
        prompt.focus()
        await pilot.pause()
        app.query_one("#tabs").active = f"tab-{tab}"  # the Generate pane is hidden now
        await wait_for(pilot, lambda: app.query(f"#{tab}") and not visible(app, "#generate"), what="the tab")
        await wait_for(pilot, lambda: app.focused is None or shown(app.focused), what="the focus to leave", timeout=3)
        before = prompt.value
        await pilot.press("x", "y")
        assert prompt.value == before  # its keys no longer reach the hidden prompt
