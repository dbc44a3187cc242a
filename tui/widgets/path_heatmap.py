"""The paths of backpropagation through time as a T x T grid (engine.gradient_paths).

Row s is the loss L_s, column t the hidden state h_t; cell (s, t) is C[t, s] = ||∂L_s/∂h_t|| on a
log colour scale, so only the lower triangle (s >= t) holds a path.  A cursor moves over the cells;
the grid scrolls to keep it in view when T x T does not fit.  Under the grid a strip shows, per
column t, the share of h_t's path norms that truncated BPTT with k steps drops, and the cells it
drops carry a dot.
"""
from __future__ import annotations

import math

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

# viridis, dark to bright: the eye reads order from lightness on dark and light themes alike
PALETTE = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725")
DECADES = 6        # the scale spans this many powers of ten below the largest C; smaller is the darkest
BARS = " ▁▂▃▄▅▆▇█"
PAGE = 10          # rows a PageUp/PageDown moves
FIRST_LOSS = 11    # where the cursor starts (row s, from 0; column t = 0)


def colour_index(value: float, top: float) -> int:
    """The palette entry of ``value`` on the log scale from top·10^-DECADES (0) to top (last)."""
    if value <= 0 or top <= 0:
        return 0
    x = (math.log10(value / top) + DECADES) / DECADES
    return min(len(PALETTE) - 1, max(0, round(x * (len(PALETTE) - 1))))


def _ink(background: str) -> str:
    """Black or white, whichever reads on ``background``."""
    r, g, b = (int(background[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


class PathHeatmap(Widget, can_focus=True):
    """Fed C (``show``) and the truncation (``set_truncation``); posts ``CursorMoved``."""

    DEFAULT_CSS = """
    PathHeatmap { width: 1fr; height: 1fr; text-wrap: nowrap; text-overflow: clip; }
    PathHeatmap:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("up", "move(-1, 0)", "Loss up", show=False),
        Binding("down", "move(1, 0)", "Loss down", show=False),
        Binding("left", "move(0, -1)", "State left", show=False),
        Binding("right", "move(0, 1)", "State right", show=False),
        Binding("pageup", f"move(-{PAGE}, 0)", show=False),
        Binding("pagedown", f"move({PAGE}, 0)", show=False),
        Binding("home", "move(0, -1000)", show=False),
        Binding("end", "move(0, 1000)", show=False),
    ]

    class CursorMoved(Message):
        """The cursor is on loss ``s`` and state ``t`` (both from 0)."""

        def __init__(self, s: int, t: int):
            super().__init__()
            self.s, self.t = s, t

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.C: list[list[float]] = []   # C[t][s]
        self.s = self.t = 0              # the cursor
        self.k = 0
        self.dropped: list[float] = []   # per t, for truncation k
        self._top = self._left = 0       # the first row and column in view

    @property
    def steps(self) -> int:
        return len(self.C)

    def show(self, C: list[list[float]]) -> None:
        """New terms; the cursor stays where it was when it still fits."""
        first = not self.C
        self.C = C
        last = max(self.steps - 1, 0)
        # first the longest path that truncation at 10 steps cuts: h_1 to L_12
        self.s = min(FIRST_LOSS if first else self.s, last)
        self.t = 0 if first else min(self.t, self.s)
        self.refresh()

    def set_truncation(self, k: int, dropped: list[float]) -> None:
        self.k, self.dropped = k, dropped
        self.refresh()

    def action_move(self, ds: int, dt: int) -> None:
        if not self.C:
            return
        s = min(max(self.s + ds, 0), self.steps - 1)
        t = min(max(self.t + dt, 0), s)  # only s >= t holds a path
        if (s, t) != (self.s, self.t):
            self.s, self.t = s, t
            self.refresh()
            self.post_message(self.CursorMoved(s, t))

    # ---------------------------------------------------------- drawing ----

    def _scroll(self, rows: int, cols: int) -> None:
        """Move the view just enough to hold the cursor."""
        self._top = min(max(self._top, self.s - rows + 1), self.s)
        self._left = min(max(self._left, self.t - cols + 1), self.t)
        self._top = max(0, min(self._top, self.steps - rows))
        self._left = max(0, min(self._left, self.steps - cols))

    def render(self) -> Text:
        if not self.C:
            return Text("no paths yet", style="dim")
        width, height = self.size
        T = self.steps
        label = max(5, len(str(T)) + 2)              # "L12 ", and room for "k=10 "
        cell = 2 if label + 2 * T <= width else 1
        cols = max(1, (width - label) // cell)
        rows = max(1, height - 3)                     # header, truncation strip, legend
        self._scroll(rows, cols)
        top = max((v for column in self.C for v in column), default=0.0)
        visible_t = range(self._left, min(T, self._left + cols))
        text = Text(no_wrap=True, overflow="crop")
        text.append(self._header(visible_t, label, cell) + "\n", style="dim")
        for s in range(self._top, min(T, self._top + rows)):
            text.append(f"L{s + 1}".rjust(label - 1) + " ", style="bold reverse" if s == self.s else "dim")
            for t in visible_t:
                text.append(*self._cell(s, t, top, cell))
            text.append("\n")
        text.append(f"k={self.k}".rjust(label - 1)[:label - 1] + " ", style="dim")
        most = max(self.dropped, default=0.0)
        for t in visible_t:  # bars relative to the largest dropped share, named in the legend
            share = self.dropped[t] if t < len(self.dropped) else 0.0
            bar = BARS[0] if share <= 0 else BARS[max(1, round(share / most * (len(BARS) - 1)))]
            text.append(bar * cell, style="bold" if t == self.t else "")
        text.append("\n")
        text.append_text(self._legend())
        return text

    def _header(self, visible_t: range, label: int, cell: int) -> str:
        line = [" "] * (label + len(visible_t) * cell)
        line[:label - 1] = "h_t"[:label - 1].rjust(label - 1)
        for i, t in enumerate(visible_t):
            at = label + i * cell
            if t == self.t:
                line[at] = "▼"
            elif (t + 1) % 10 == 0 or t == 0:
                mark = str(t + 1)
                if at + len(mark) <= len(line) and all(c == " " for c in line[at:at + len(mark)]):
                    line[at:at + len(mark)] = mark
        return "".join(line)

    def _cell(self, s: int, t: int, top: float, cell: int) -> tuple[str, Style | str]:
        if s < t:
            return " " * cell, ""
        background = PALETTE[colour_index(self.C[t][s], top)]
        if (s, t) == (self.s, self.t):
            mark = "◆" if cell == 1 else "[]"
        elif s - t > self.k:
            mark = "·".ljust(cell)
        else:
            mark = " " * cell
        return mark, Style(color=_ink(background), bgcolor=background, bold=(s, t) == (self.s, self.t))

    def _legend(self) -> Text:
        legend = Text(f"1e-{DECADES}×max ", style="dim")
        for colour in PALETTE:
            legend.append(" ", style=Style(bgcolor=colour))
        legend.append(" max  ", style="dim")
        legend.append("·", style=Style(color=_ink(PALETTE[4]), bgcolor=PALETTE[4]))
        legend.append(f" cut  █ {max(self.dropped, default=0.0):.1%} cut", style="dim")
        return legend
