"""The Forecast pane: one step ahead is easy, 64 steps ahead is not (d2l 8.1, ``engine.forecast``).

Training runs in a thread worker that imports torch; the worker posts messages (tui.messages:
ForecastEpoch, ForecastTrained) and the handlers here own the screen.  Plots are rebuilt at most
``REDRAW_HZ`` times a second.  Its layout is in the app's stylesheet.
"""
from __future__ import annotations

import time
from functools import partial

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker, WorkerState, get_current_worker
from textual_plotext import PlotextPlot

from engine.errors import ConfigError
from engine.forecast_config import ForecastConfig, parse_horizons
from tui.messages import ForecastEpoch, ForecastTrained
from tui.notify import notify_error
from tui.widgets.plots import thin

REDRAW_HZ = 4
DEFAULT_HORIZONS = "1,4,16,64"
# the numeric controls, named as in ForecastConfig; its other fields keep their defaults
CONTROLS = (("tau", int), ("sigma", float), ("T", int), ("n_train", int))


class _Superseded(Exception):
    """A newer Retrain replaced this run: stop training early."""


class ForecastPane(Horizontal):
    """Controls and training readout on the left; the series, k-step and error plots on the right."""

    BINDINGS = [Binding("f9", "retrain", "Retrain", id="forecast-retrain")]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.result = None          # the ForecastResult on screen
        self.horizons: tuple[int, ...] = ()   # the k-step curves drawn
        self.losses: list[float] = []
        self._run = 0               # messages from older runs are ignored
        self._worker: Worker | None = None
        self._drawn_at = 0.0
        self._draw_timer = None

    def compose(self) -> ComposeResult:
        defaults = ForecastConfig()
        with VerticalScroll(id="forecast-controls"):
            for name, kind in CONTROLS:
                with Horizontal(classes="forecast-field"):
                    yield Label(name)
                    yield Input(str(getattr(defaults, name)), type="integer" if kind is int else "number",
                                compact=True, id=f"forecast-{name}")
            with Horizontal(classes="forecast-field"):
                yield Label("horizons")
                yield Input(DEFAULT_HORIZONS, compact=True, id="forecast-horizons")
            yield Button("Retrain", id="forecast-retrain", variant="primary")
            yield Static(id="forecast-error", markup=False)
            yield Static(id="forecast-loss")
            yield Static(id="forecast-summary")
        with Vertical(id="forecast-plots"):
            yield PlotextPlot(id="forecast-series")
            with Horizontal(id="forecast-lower"):
                yield PlotextPlot(id="forecast-kstep")
                yield PlotextPlot(id="forecast-mse")

    def on_mount(self) -> None:
        self.action_retrain()

    # ------------------------------------------------------------ controls ----

    def read_config(self) -> ForecastConfig:
        """The controls as a ForecastConfig; ConfigError (one line) when a value is bad."""
        values = {}
        for name, kind in CONTROLS:
            text = self.query_one(f"#forecast-{name}", Input).value.strip()
            try:
                values[name] = kind(text)
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise ConfigError(f"{name} must be {what}, got {text!r}") from None
        # the longest horizon shrinks with short series instead of refusing them
        values["max_steps"] = max(1, min(ForecastConfig.max_steps, values["T"] - values["tau"]))
        return ForecastConfig(**values)

    def read_horizons(self, max_steps: int) -> tuple[int, ...]:
        return parse_horizons(self.query_one("#forecast-horizons", Input).value, max_steps)

    def _refuse(self, error: BaseException) -> None:
        self.query_one("#forecast-error", Static).update(notify_error(self, error, "forecast"))

    def action_retrain(self) -> None:
        """Validate the controls and train in a thread; a bad value is shown, never raised."""
        try:
            config = self.read_config()
            horizons = self.read_horizons(config.max_steps)
        except ConfigError as error:
            self._refuse(error)
            return
        self.horizons = horizons
        self.query_one("#forecast-error", Static).update("")
        self.losses = []
        self.query_one("#forecast-loss", Static).update("training…")
        self._run += 1
        self._worker = self.run_worker(partial(self._train, self._run, config), name="forecast training",
                                       group="forecast", thread=True, exclusive=True, exit_on_error=False)

    @on(Button.Pressed, "#forecast-retrain")
    def _retrain_pressed(self) -> None:
        self.action_retrain()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "forecast-horizons" and self.result is not None:
            self._show_horizons()
        else:
            self.action_retrain()

    def _show_horizons(self) -> None:
        """New horizons need no training: every k up to max_steps is in the k-step table."""
        try:
            self.horizons = self.read_horizons(self.result.config.max_steps)
        except ConfigError as error:
            self._refuse(error)
            return
        self.query_one("#forecast-error", Static).update("")
        self.request_draw()

    # -------------------------------------------------------------- worker ----

    def _train(self, run: int, config: ForecastConfig) -> None:
        """Thread worker: the only place torch is loaded."""
        from engine.forecast import run_forecast

        worker = get_current_worker()

        def on_epoch(epoch: int, loss: float) -> None:
            if worker.is_cancelled:
                raise _Superseded
            self.post_message(ForecastEpoch(run, epoch, loss))

        try:
            result = run_forecast(config, on_epoch=on_epoch)
        except _Superseded:
            return
        if not worker.is_cancelled:
            self.post_message(ForecastTrained(run, result))

    @on(ForecastEpoch)
    def _epoch_done(self, message: ForecastEpoch) -> None:
        if message.run != self._run:
            return
        self.losses.append(message.loss)
        self.query_one("#forecast-loss", Static).update(self._loss_text(training=True))

    @on(ForecastTrained)
    def _trained(self, message: ForecastTrained) -> None:
        if message.run != self._run:
            return
        self.result = message.result
        self.losses = list(message.result.train_loss)
        self.query_one("#forecast-loss", Static).update(self._loss_text(training=False))
        self.request_draw()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._worker and event.state == WorkerState.ERROR:
            self.query_one("#forecast-loss", Static).update("training failed")
            self._refuse(event.worker.error)

    def _loss_text(self, training: bool) -> str:
        losses = " ".join(f"{loss:.4f}" for loss in self.losses)
        return f"MLP train loss per epoch{' (training…)' if training else ''}:\n{losses}"

    # ------------------------------------------------------------- drawing ----

    def request_draw(self) -> None:
        """Draw now, or once 1/REDRAW_HZ s after the last draw; bursts collapse into one draw."""
        if self._draw_timer is not None:
            return
        wait = self._drawn_at + 1 / REDRAW_HZ - time.monotonic()
        if wait <= 0:
            self._draw()
        else:
            self._draw_timer = self.set_timer(wait, self._draw)

    def _draw(self) -> None:
        self._draw_timer = None
        self._drawn_at = time.monotonic()
        r = self.result
        self.query_one("#forecast-summary", Static).update(self._summary(r))
        self._draw_series(r)
        self._draw_kstep(r)
        self._draw_mse(r)

    def _summary(self, r) -> Table:
        table = Table("k", "MLP", f"AR({r.config.tau})", box=None, padding=(0, 1),
                      title=f"MSE by k (σ²={r.config.sigma ** 2:.4f})", title_justify="left")
        for k in self.horizons:
            table.add_row(str(k), f"{r.mse_by_horizon['mlp'][k - 1]:.4f}",
                          f"{r.mse_by_horizon['linear'][k - 1]:.4f}")
        return table

    def _draw_series(self, r) -> None:
        plot = self.query_one("#forecast-series", PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        plt.title("data, 1-step and multi-step predictions (MLP)")
        plt.plot(*thin(r.time.tolist(), r.x.tolist()), label="data", marker="braille")
        plt.plot(*thin(r.onestep_time.tolist(), r.onestep["mlp"].tolist()), label="1-step", marker="braille")
        plt.plot(*thin(r.multistep_time.tolist(), r.multistep["mlp"].tolist()), label="multi-step",
                 marker="braille")
        plt.vline(r.config.n_train + r.config.tau)
        plot.refresh()

    def _draw_kstep(self, r) -> None:
        plot = self.query_one("#forecast-kstep", PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        plt.title("k-step-ahead predictions (MLP)")
        for k in self.horizons:
            plt.plot(*thin(r.kstep_time(k).tolist(), r.kstep_predictions("mlp", k).tolist()),
                     label=f"{k}-step", marker="braille")
        plot.refresh()

    def _draw_mse(self, r) -> None:
        plot = self.query_one("#forecast-mse", PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        plt.title("MSE vs horizon k")
        ks = list(range(1, r.config.max_steps + 1))
        plt.plot(ks, r.mse_by_horizon["mlp"], label="MLP", marker="braille")
        plt.plot(ks, r.mse_by_horizon["linear"], label=f"AR({r.config.tau})", marker="braille")
        plt.hline(r.config.sigma ** 2)  # the noise floor no forecaster beats
        plt.xlabel("k")
        plot.refresh()
