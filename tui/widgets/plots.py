"""Plots drawn with plotext: Zipf's law on log-log axes and the live perplexity curve.

A plotext plot is rebuilt in full on every render (tens of ms), so the curve
redraws at most ``REDRAW_HZ`` times a second however fast records arrive.
"""
from __future__ import annotations

import math
import time

from rich.text import Text
from textual_plotext import PlotextPlot

REDRAW_HZ = 2
MAX_POINTS = 300     # the train curve is thinned to this many points for drawing


class Plot(PlotextPlot):
    """A plotext plot whose figure is set up again from the widget's data (:meth:`figure`) each
    time it is drawn, and that draws a one-line notice where plotext itself fails.

    plotext's build takes the log of a log-scaled series in place, so building one figure twice
    (any redraw without new data: a resize, a browser's first layout) took the log twice: wrong
    curves, or a ValueError at the log of 0.  Setting up a figure only stores lists; the build
    that follows is the costly part, and it runs on every render anyway.  plotext also raises on
    some data ranges; a plot is never worth a crashed app.
    """

    def figure(self) -> None:
        """Clear ``self.plt`` and plot the widget's data into it."""
        self.plt.clear_figure()

    def render(self):
        self.figure()
        try:
            return super().render()
        except (ArithmeticError, IndexError, ValueError) as exc:
            return Text(f"(plot not drawable here: {exc.__class__.__name__})", style="dim")


class ZipfPlot(Plot):
    """Frequency against rank of the uni-, bi- and trigrams, each with its fitted exponent."""

    curves: dict[int, tuple[list[int], list[int]]] = {}
    exponents: dict[int, float] = {}

    def show(self, curves: dict[int, tuple[list[int], list[int]]], exponents: dict[int, float]) -> None:
        self.curves, self.exponents = curves, exponents
        self.refresh()

    def figure(self) -> None:
        plt = self.plt
        plt.clear_figure()
        if not any(ranks for ranks, _ in self.curves.values()):
            return  # log axes with nothing on them have no ticks: plotext fails on None
        plt.xscale("log")
        plt.yscale("log")
        plt.title("Zipf: frequency vs rank (log-log)")
        for n in sorted(self.curves):
            ranks, freqs = self.curves[n]
            alpha = self.exponents.get(n, math.nan)
            label = f"{n}-gram α={alpha:.2f}" if math.isfinite(alpha) else f"{n}-gram"
            if ranks:
                plt.plot(ranks, freqs, label=label, marker="braille")


def thin(xs: list, ys: list, limit: int = MAX_POINTS) -> tuple[list, list]:
    """Every k-th point so at most about ``limit`` remain (the last point always kept)."""
    if len(xs) <= limit:
        return xs, ys
    k = math.ceil(len(xs) / limit)
    return xs[::k] + xs[-1:], ys[::k] + ys[-1:]


class LivePlot(Plot):
    """A plot fed while training runs: :meth:`redraw` draws it again at most ``REDRAW_HZ`` times
    a second."""

    _drawn_at = 0.0  # time.monotonic() of the last replot
    _pending = None  # the timer of a replot put off

    def redraw(self, force: bool = False) -> None:
        """Replot now if the last replot is older than 1/REDRAW_HZ s; else once it is (the last
        records of a short run, which no later record follows, are drawn too)."""
        wait = self._drawn_at + 1 / REDRAW_HZ - time.monotonic()
        if force or wait <= 0:
            if self._pending is not None:
                self._pending.stop()
                self._pending = None
            self._drawn_at = time.monotonic()
            self.refresh()
        elif self._pending is None:
            self._pending = self.set_timer(wait, self._put_off)

    def _put_off(self) -> None:
        self._pending = None
        self.redraw(force=True)


class PerplexityCurve(LivePlot):
    """Train perplexity per step, validation perplexity per epoch, and the n-gram line to beat."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.clear()

    def clear(self) -> None:
        self.steps: list[int] = []
        self.train: list[float] = []
        self.val_steps: list[int] = []
        self.val: list[float] = []
        self.baseline: tuple[str, float] | None = None
        self._drawn_at = 0.0
        self.refresh()

    def add(self, steps: list, epochs: list) -> None:
        """StepRecords (their train perplexity) and EpochRecords (their validation perplexity, at
        the step the epoch ended)."""
        for record in steps:
            self.steps.append(record.global_step)
            self.train.append(record.perplexity)
        for record in epochs:
            if record.val_perplexity is not None:
                self.val_steps.append(record.global_step)
                self.val.append(record.val_perplexity)
        self.redraw()

    def set_baseline(self, label: str, perplexity: float) -> None:
        self.baseline = (label, perplexity)
        self.redraw(force=True)

    def figure(self) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title("perplexity" + (f" · line to beat: {self.baseline[0]}" if self.baseline else ""))
        plt.xlabel("step")
        finite = [p for p in self.train + self.val if math.isfinite(p)]
        if self.baseline is not None:
            finite.append(self.baseline[1])
        if finite and max(finite) / max(min(finite), 1e-9) > 20:
            plt.yscale("log")  # early perplexities near the vocabulary size dwarf the rest
        if self.steps:
            plt.plot(*thin(self.steps, self.train), label="train", marker="braille")
        if self.val:
            plt.plot(self.val_steps, self.val, label="validation", marker="dot")
        if self.baseline is not None and len(self.steps) > 1:  # a series: its label sits in the legend
            label, value = self.baseline
            plt.plot([self.steps[0], self.steps[-1]], [value, value], label=label, color="red")


class SessionCurves(LivePlot):
    """The comparison view: the validation perplexity of every run of this session against its
    training seconds, one series per run, so that cells trained for the same time line up."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.runs: dict[int, tuple[str, list[float], list[float]]] = {}  # run number -> label, xs, ys

    def add(self, run: int, label: str, record) -> None:
        """One EpochRecord (with a validation perplexity) of run number ``run``."""
        _, seconds, perplexities = self.runs.setdefault(run, (f"#{run} {label}", [], []))
        seconds.append(record.elapsed)
        perplexities.append(record.val_perplexity)
        if self.display:
            self.redraw()

    def figure(self) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title("validation perplexity of this session's runs" if self.runs
                  else "no validated epoch yet in this session")
        plt.xlabel("training seconds")
        for label, seconds, perplexities in self.runs.values():
            plt.plot(seconds, perplexities, label=label, marker="braille")
