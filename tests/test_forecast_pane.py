"""The Forecast pane inside a tiny App: it trains in a worker, keeps answering, and shows the result."""
import io
import subprocess
import sys
import threading

import pytest
from rich.console import Console
from textual.app import App
from textual.widgets import Input, Static
from textual_plotext import PlotextPlot

import assets
import engine.forecast
from engine.errors import TrainingError
from tui.panes.forecast import ForecastPane

SIZE = (130, 42)


class PaneApp(App):
    CSS_PATH = str(assets.path("rnnplay.tcss"))  # the pane's layout is in the app's stylesheet

    def __init__(self):
        super().__init__()
        self.notes: list[str] = []

    def compose(self):
        yield ForecastPane(id="forecast")

    def notify(self, message, **kwargs):
        self.notes.append(message)
        super().notify(message, **kwargs)


def text_of(app, selector) -> str:
    """The plain text a Static shows (a string, or a rich table printed at the pane's width)."""
    content = app.query_one(selector, Static).content
    if isinstance(content, str):
        return content
    console = Console(width=28, file=io.StringIO())
    console.print(content)
    return console.file.getvalue()


def plot_text(app, selector) -> str:
    return app.query_one(selector, PlotextPlot).render().plain


@pytest.fixture
def gate(monkeypatch):
    """Training waits until the test opens the gate, so the test can act while a worker runs."""
    opened = threading.Event()
    real = engine.forecast.run_forecast

    def gated(config, *, on_epoch=None):
        assert opened.wait(10), "the test never opened the gate"
        return real(config, on_epoch=on_epoch)

    monkeypatch.setattr(engine.forecast, "run_forecast", gated)
    yield opened
    opened.set()


async def set_value(pilot, selector, value):
    pilot.app.query_one(selector, Input).value = value
    await pilot.pause()


async def test_pane_trains_on_mount_and_retrains_without_blocking(gate):
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(ForecastPane)
        # the first training started on mount and is held at the gate: the app still takes keys
        assert [w.is_finished for w in app.workers] == [False]
        assert "training" in text_of(app, "#forecast-loss")
        app.query_one("#forecast-T", Input).focus()
        await pilot.press("end", *["backspace"] * 4, "5", "0", "0")
        assert app.query_one("#forecast-T", Input).value == "500"
        assert pane.result is None
        gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        first = pane.result
        assert first.config.T == 1000  # trained with the values at mount time
        assert text_of(app, "#forecast-loss").split()[-5:] == [f"{x:.4f}" for x in first.train_loss]
        assert f"{first.mse_by_horizon['mlp'][63]:.4f}" in text_of(app, "#forecast-summary")
        assert "multi-step" in plot_text(app, "#forecast-series")
        assert "64-step" in plot_text(app, "#forecast-kstep")

        # Retrain with new values: again the app answers while the worker runs
        gate.clear()
        await set_value(pilot, "#forecast-tau", "8")
        await set_value(pilot, "#forecast-n_train", "300")
        await pilot.click("#forecast-retrain")
        assert "training" in text_of(app, "#forecast-loss")
        app.query_one("#forecast-horizons", Input).focus()
        await pilot.press("end", "backspace", "backspace", "backspace")
        assert app.query_one("#forecast-horizons", Input).value == "1,4,16"
        assert pane.result is first
        gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        second = pane.result
        assert (second.config.T, second.config.tau, second.config.n_train) == (500, 8, 300)
        assert text_of(app, "#forecast-loss").split()[-5:] == [f"{x:.4f}" for x in second.train_loss]
        assert second.train_loss != first.train_loss
        assert "AR(8)" in text_of(app, "#forecast-summary")
        # the horizons typed meanwhile apply on Enter, without training
        await pilot.press("enter")
        await pilot.pause(0.3)  # past the redraw throttle
        assert pane.result is second and len(app.workers) == 0
        assert "64-step" not in plot_text(app, "#forecast-kstep")
        assert "16-step" in plot_text(app, "#forecast-kstep")


async def test_horizons_replot_without_training():
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        pane = app.query_one(ForecastPane)
        result = pane.result
        await set_value(pilot, "#forecast-horizons", "2, 32")
        app.query_one("#forecast-horizons", Input).focus()
        await pilot.press("enter")
        await pilot.pause(0.3)  # past the redraw throttle
        assert pane.result is result and len(app.workers) == 0
        assert pane.horizons == (2, 32)
        summary = text_of(app, "#forecast-summary")
        assert f"{result.mse_by_horizon['linear'][31]:.4f}" in summary and "64" not in summary.split()
        assert "32-step" in plot_text(app, "#forecast-kstep")


BAD_VALUES = [
    ("#forecast-tau", "0", "tau must be at least 1", "4"),
    ("#forecast-tau", "", "tau must be a whole number", "4"),
    ("#forecast-sigma", "abc", "sigma must be a number, got 'abc'", "0.2"),
    ("#forecast-n_train", "2000", "must be less than T (1000)", "600"),
    ("#forecast-horizons", "1,99", "horizon 99 is outside 1..max_steps (64)", "1,4"),
]


async def test_bad_values_show_one_line_and_train_nothing():
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        pane = app.query_one(ForecastPane)
        result = pane.result
        for selector, bad, words, good in BAD_VALUES:
            await set_value(pilot, selector, bad)
            app.query_one(selector, Input).focus()
            await pilot.press("f9")  # the pane's Retrain binding
            error = text_of(app, "#forecast-error")
            assert words in error and "\n" not in error
            assert any(words in note for note in app.notes)
            assert len(app.workers) == 0 and pane.result is result
            await set_value(pilot, selector, good)
        # good values again: the error clears and the pane trains
        await pilot.click("#forecast-retrain")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert text_of(app, "#forecast-error") == ""
        assert pane.result is not result and pane.horizons == (1, 4)


async def test_a_failing_engine_is_a_message_not_a_crash(monkeypatch):
    def broken(config, *, on_epoch=None):
        raise TrainingError("the loss diverged; lower the learning rate")

    monkeypatch.setattr(engine.forecast, "run_forecast", broken)
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running
        assert text_of(app, "#forecast-error") == "the loss diverged; lower the learning rate"
        assert text_of(app, "#forecast-loss") == "training failed"


def test_pane_module_does_not_load_torch():
    code = "import sys, tui.panes.forecast; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
