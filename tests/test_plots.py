"""The plots draw the same figure however often they are drawn (plotext took the log of a
log-scaled series once per build: a redraw without new data drew wrong curves or failed), and a
live plot shows the records of a run shorter than its redraw interval."""
from textual.app import App, ComposeResult

from engine.records import StepRecord
from tui.widgets.plots import PerplexityCurve, ZipfPlot

BRAILLE = range(0x2800, 0x2900)


class PlotApp(App):
    def __init__(self, plot):
        super().__init__()
        self.plot = plot

    def compose(self) -> ComposeResult:
        yield self.plot


def text(plot) -> str:
    return "".join(segment.text for strip in [plot.render()] for segment in strip.render(plot.app.console))


def has_series(drawn: str) -> bool:
    return any(ord(ch) in BRAILLE for ch in drawn)


async def test_the_zipf_plot_draws_the_same_figure_each_time_and_after_a_resize():
    curves = {1: ([1, 2, 3, 4, 5], [50, 20, 9, 4, 1]), 2: ([1, 2, 3], [12, 5, 1]), 3: ([], [])}
    plot = ZipfPlot()
    async with PlotApp(plot).run_test(size=(80, 24)) as pilot:
        plot.show(curves, {1: 1.1, 2: 0.9})
        await pilot.pause()
        first = text(plot)
        assert has_series(first) and "not drawable" not in first and "α=1.10" in first
        assert text(plot) == first  # drawn again without new data
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert text(plot) == first


async def test_an_empty_zipf_plot_is_drawn_without_a_notice():
    plot = ZipfPlot()
    async with PlotApp(plot).run_test(size=(60, 20)) as pilot:
        plot.show({1: ([], [])}, {})
        await pilot.pause()
        assert "not drawable" not in text(plot)


def step(n: int, perplexity: float) -> StepRecord:
    return StepRecord(epoch=1, step=n, steps_per_epoch=3, global_step=n, loss=0.0, perplexity=perplexity,
                      grad_norm=1.0, clipped=False, tokens_per_sec=1.0, elapsed=0.1 * n, lr=0.1, progress=n / 3)


async def test_a_run_shorter_than_the_redraw_interval_is_drawn_when_it_ends():
    plot = PerplexityCurve()
    async with PlotApp(plot).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not has_series(text(plot))
        plot.add([step(1, 30.0)], [])
        plot.add([step(2, 20.0), step(3, 15.0)], [])  # within the redraw interval: put off
        await pilot.pause(0.5)
        drawn = text(plot)
        assert plot.steps == [1, 2, 3] and has_series(drawn)
