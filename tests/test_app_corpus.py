"""The Corpus pane while a corpus is prepared and counted: a progress bar fed by the worker's
messages, a UI that answers keys meanwhile, and a newer load that takes over."""
import threading

from textual.widgets import Label, ProgressBar, Tabs

import engine.tokenfile as tokenfile
from app_support import TINY, wait_for, wait_for_stats
from tui.app import create_app


def hold_counting(monkeypatch):
    """Make the first pass report half its work, then wait for ``release`` (in the worker thread)."""
    release, real = threading.Event(), tokenfile.count_tokens

    def held(source, token, mode, max_vocab, report):
        report(tokenfile.Progress("counting tokens", 1, 2))
        release.wait(timeout=30)
        return real(source, token, mode, max_vocab, report)

    monkeypatch.setattr(tokenfile, "count_tokens", held)
    monkeypatch.setattr("tui.worker_progress.PROGRESS_EVERY", 0.0)
    return release


async def test_the_bar_follows_the_worker_and_the_ui_answers_meanwhile(tiny_corpus, monkeypatch):
    release = hold_counting(monkeypatch)
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        bar = app.query_one("#corpus-progress", ProgressBar)
        await wait_for(pilot, lambda: bar.total == 2 and bar.progress == 1, what="the progress message")
        assert app.query_one("#corpus-progress-row").display
        assert "counting tokens" in str(app.query_one("#corpus-stage", Label).render())
        before = app.query_one(Tabs).active
        await pilot.press("f2")  # the worker is mid-work: the UI still switches tabs
        assert app.query_one(Tabs).active != before
        release.set()
        await wait_for_stats(pilot, app)
        assert not app.query_one("#corpus-progress-row").display
        assert "6,000 characters" in str(app.query_one("#corpus-summary").render())


async def test_a_newer_corpus_takes_over_from_one_being_prepared(tiny_corpus, tmp_path, monkeypatch):
    release = hold_counting(monkeypatch)
    other = tmp_path / "other.txt"
    other.write_text("the space machine " * 200, encoding="utf-8")
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        bar = app.query_one("#corpus-progress", ProgressBar)
        await wait_for(pilot, lambda: bar.progress == 1, what="the first corpus's progress")
        source = app.query_one("#corpus-source")
        source.value = str(other)
        source.focus()
        await pilot.press("enter")
        release.set()
        await wait_for(pilot, lambda: app.corpus_text is not None and app.corpus_text.name == str(other),
                       what="the second corpus")
        await pilot.pause(0.2)
        assert app.corpus_text.name == str(other) and not app.query_one("#corpus-error").display
        assert not app.query_one("#corpus-progress-row").display


async def test_a_model_built_on_a_new_token_level_shows_the_preparing_on_the_training_bar(tiny_corpus, monkeypatch):
    app = create_app(corpus=str(tiny_corpus), given={**TINY, "token": "word"})  # the Corpus pane counts chars
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        release = hold_counting(monkeypatch)  # the word-level token file is made when the model is built
        await pilot.press("f5")
        bar = app.query_one("#train-progress", ProgressBar)
        await wait_for(pilot, lambda: bar.total == 2 and bar.progress == 1, what="the preparing's progress")
        assert "counting tokens" in str(app.query_one("#train-status").render())
        assert not app.query_one("#corpus-progress-row").display  # the Corpus pane's bar is not touched
        release.set()
        await wait_for(pilot, lambda: app.training.info is not None, what="the model")
        await wait_for(pilot, lambda: "counting" not in str(app.query_one("#train-status").render()),
                       what="the run's own status")
        app.training.stop()
        await app.workers.wait_for_complete()
        assert app.training.info.config.token == "word"
