"""The gate-saturation scatter: one point per unit, the fraction of steps its gate sat below 0.1
(left-saturated, closed) against the fraction above 0.9 (right-saturated, open)."""
from __future__ import annotations

from tui.widgets.plots import Plot

MARKERS = {"i": "dot", "f": "braille", "o": "sd", "z": "dot", "r": "braille"}


class SaturationPlot(Plot):
    fractions: dict[str, tuple[list[float], list[float]]] = {}
    layer = 1
    notice = ""  # a title alone, in place of the scatter

    def show(self, fractions: dict[str, tuple[list[float], list[float]]], layer: int) -> None:
        """``fractions``: gate key -> (left fractions, right fractions) of every unit; the gates of
        ``layer`` are drawn, each in its own colour."""
        self.fractions, self.layer, self.notice = fractions, layer, ""
        self.refresh()

    def show_notice(self, notice: str) -> None:
        self.fractions, self.notice = {}, notice
        self.refresh()

    def figure(self) -> None:
        plt = self.plt
        plt.clear_figure()
        if self.notice:
            plt.title(self.notice)
            return
        plt.title(f"gate saturation, layer {self.layer}: one point per unit")
        plt.xlabel("fraction < 0.1")
        plt.ylabel("fraction > 0.9")
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        for key, (low, high) in self.fractions.items():
            if key.startswith(f"l{self.layer}."):
                gate = key.split(".", 1)[1]
                plt.scatter(low, high, label=gate, marker=MARKERS.get(gate, "dot"))
