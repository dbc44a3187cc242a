"""A text shown token by token: each token coloured by a value, a row under it (the model's guess
for the next token), and a cursor that picks one position.  A Line-API widget: only the visible
rows are drawn, so a 20,000-token text scrolls as lightly as a short one.

The colour maps live here too: a diverging one for values in -1..1 (blue, white, red), one for
probabilities (red for a surprise, green for a token the model expected) and one for saliency
(white to orange).
"""
from __future__ import annotations

from dataclasses import dataclass

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

RGB = tuple[int, int, int]
SHOWN = {"\n": "⏎", "\t": "⇥", "\r": "␍"}   # characters that would break a row or vanish
GUESS_SPACE = "·"                             # a space guessed in the row under the text


def _blend(a: RGB, b: RGB, x: float) -> RGB:
    x = min(max(x, 0.0), 1.0)
    return tuple(round(p + (q - p) * x) for p, q in zip(a, b))


def diverging(value: float, lo: float = -1.0, hi: float = 1.0) -> RGB:
    """Blue at ``lo``, white in the middle, red at ``hi``."""
    x = (value - lo) / (hi - lo) * 2 - 1
    return _blend((245, 245, 245), (178, 24, 43), x) if x >= 0 else _blend((245, 245, 245), (33, 102, 172), -x)


def probability(p: float) -> RGB:
    """Red for a token the model thought unlikely, yellow at 0.5, green when it expected it."""
    return _blend((215, 48, 39), (254, 224, 139), p * 2) if p < 0.5 else _blend((254, 224, 139), (26, 152, 80),
                                                                              p * 2 - 1)


def heat(value: float, top: float) -> RGB:
    """White for nothing, deep orange for ``top``."""
    return _blend((245, 245, 245), (217, 72, 1), value / top if top > 0 else 0.0)


def _ink(background: RGB) -> Color:
    """Black or white text, whichever reads on ``background``."""
    r, g, b = background
    return Color.from_rgb(0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else Color.from_rgb(255, 255, 255)


@dataclass
class _Row:
    start: int
    end: int


class TokenView(ScrollView, can_focus=True, inherit_bindings=False):
    """Tokens wrapped to the width, two rows per line: the tokens on their colours, then ``below``
    (one string per token).  Left/Right, Home/End and a click move the cursor; Up/Down and the
    other keys are left to the pane."""

    BINDINGS = [
        Binding("left", "move(-1)", "Previous token", show=False, id="tokens-left"),
        Binding("right", "move(1)", "Next token", show=False, id="tokens-right"),
        Binding("home", "move_to(0)", "First token", show=False, id="tokens-home"),
        Binding("end", "move_to(-1)", "Last token", show=False, id="tokens-end"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="tokens-page-up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="tokens-page-down"),
    ]

    cursor = reactive(0, init=False)

    @dataclass
    class CursorMoved(Message):
        view: "TokenView"
        position: int

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tokens: list[str] = []
        self.colours: list[RGB | None] = []
        self.below: list[str] = []
        self.dim: set[int] = set()
        self.gap = 0  # characters between tokens: none for characters, a space between words
        self._rows: list[_Row] = []
        self._layout_width = 0

    def show(self, tokens: list[str], colours: list[RGB | None], below: list[str], *, words: bool = False,
             dim: set[int] = frozenset()) -> None:
        """Draw ``tokens`` on ``colours`` (None: the plain background) with ``below`` under them,
        ``words`` with a space between them; the tokens at ``dim`` (e.g. ones read as <unk>) are
        shown in italics."""
        relayout = tokens != self.tokens or words != bool(self.gap)
        self.tokens, self.colours, self.below, self.dim = tokens, colours, below, set(dim)
        self.gap = 1 if words else 0
        if relayout:
            self._layout_width = 0
            self.cursor = min(self.cursor, max(len(tokens) - 1, 0))
        self._layout()
        self.refresh()

    def _shown(self, token: str) -> str:
        return SHOWN.get(token, token) or " "

    def _layout(self) -> None:
        width = max(self.scrollable_content_region.width, 8)
        if width == self._layout_width:
            return
        self._layout_width, gap, rows = width, self.gap, []
        start, used = 0, 0
        for i, token in enumerate(self.tokens):
            size = len(self._shown(token))
            if i > start and used + gap + size > width:
                rows.append(_Row(start, i))
                start, used = i, 0
            used += (gap if i > start else 0) + size
        if self.tokens:
            rows.append(_Row(start, len(self.tokens)))
        self._rows = rows
        self.virtual_size = Size(width, 2 * len(rows))

    def on_resize(self, event: events.Resize) -> None:
        self._layout()
        self._keep_cursor_visible()

    def _row_of(self, position: int) -> int:
        lo, hi = 0, len(self._rows) - 1
        while lo < hi:  # the last row starting at or before position
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self._rows[mid].start <= position else (lo, mid - 1)
        return lo

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        line = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if line >= 2 * len(self._rows):
            return Strip.blank(width, base)
        row = self._rows[line // 2]
        gap = Segment(" " * self.gap, base)
        segments = []
        for i in range(row.start, row.end):
            if i > row.start and gap.text:
                segments.append(gap)
            text = self._shown(self.tokens[i])
            if line % 2:  # the row under the text
                guess = self.below[i] if i < len(self.below) else ""
                guess = (GUESS_SPACE if guess == " " else self._shown(guess))[:len(text)].ljust(len(text))
                segments.append(Segment(guess, base + Style(dim=True)))
                continue
            colour = self.colours[i] if i < len(self.colours) else None
            style = base if colour is None else base + Style(bgcolor=Color.from_rgb(*colour), color=_ink(colour))
            if i in self.dim:
                style += Style(italic=True)
            if i == self.cursor and self.has_focus:
                style += Style(reverse=True, bold=True)
            elif i == self.cursor:
                style += Style(underline=True, bold=True)
            segments.append(Segment(text, style))
        strip = Strip(segments).crop_extend(scroll_x, scroll_x + width, base)
        return strip.apply_offsets(scroll_x, line)

    # -------------------------------------------------------------- cursor ----

    def watch_cursor(self, position: int) -> None:
        self._keep_cursor_visible()
        self.refresh()
        self.post_message(self.CursorMoved(self, position))

    def _keep_cursor_visible(self) -> None:
        if self._rows:
            row = self._row_of(self.cursor)
            self.scroll_to_region(Region(0, 2 * row, 1, 2), animate=False, immediate=True)

    def action_move(self, delta: int) -> None:
        if self.tokens:
            self.cursor = min(max(self.cursor + delta, 0), len(self.tokens) - 1)

    def action_move_to(self, position: int) -> None:
        if self.tokens:
            self.cursor = position % len(self.tokens)

    def action_page(self, direction: int) -> None:
        """The same place a screenful of rows up or down."""
        if self._rows:
            row = self._row_of(self.cursor) + direction * max(self.size.height // 2 - 1, 1)
            row = min(max(row, 0), len(self._rows) - 1)
            self.cursor = min(self._rows[row].start + self.cursor - self._rows[self._row_of(self.cursor)].start,
                              self._rows[row].end - 1)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        line = event.y + int(self.scroll_offset.y)
        if not self._rows or line >= 2 * len(self._rows):
            return
        row, x, gap = self._rows[line // 2], event.x + int(self.scroll_offset.x), self.gap
        for i in range(row.start, row.end):
            x -= len(self._shown(self.tokens[i])) + (gap if i > row.start else 0)
            if x < 0:
                self.cursor = i
                return
