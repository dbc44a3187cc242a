"""The gradient readout: the norm before clipping against θ, how often clipping bites, and how far
back through time the gradient reaches (d2l 8.5.5 and 8.7)."""
from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

RECENT = 100                 # steps in the clipped share and the sparkline
BARS = "▁▂▃▄▅▆▇█"
MAX_BARS = 40                # longer sequences: one bar per group of neighbouring steps (their largest)


def flow_bars(norms: list[float]) -> Text:
    """One bar per time step t, height ∝ ||dL/dh_t|| relative to the largest."""
    top = max(norms, default=0.0)
    if top <= 0:
        return Text("")
    group = -(-len(norms) // MAX_BARS)
    shown = [max(norms[i:i + group]) for i in range(0, len(norms), group)]
    return Text("".join(BARS[min(len(BARS) - 1, int(n / top * (len(BARS) - 1) + 0.5))] for n in shown))


class GradientReadout(Vertical):
    """Fed StepRecords (``add``) and gradient-flow samples (``show_flow``)."""

    DEFAULT_CSS = """
    GradientReadout { height: auto; }
    GradientReadout Sparkline { height: 1; margin: 0 1; }
    GradientReadout Static { padding: 0 1; height: 1; }
    GradientReadout #grad-flow { height: 2; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.norms: deque[float] = deque(maxlen=RECENT)
        self.clipped: deque[bool] = deque(maxlen=RECENT)
        self.theta = 0.0
        self.reach: dict[str, float] = {}  # cell -> its latest ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ this session

    def compose(self) -> ComposeResult:
        yield Static("gradient norm: no steps yet", id="grad-norm")
        yield Sparkline([], id="grad-sparkline")
        yield Static("gradient flow ||∂L/∂h_t||: sampled while training", id="grad-flow")

    def reset(self, theta: float) -> None:
        self.norms.clear()
        self.clipped.clear()
        self.theta = theta
        self.query_one("#grad-norm", Static).update(f"gradient norm: no steps yet · θ {theta:g}")
        self.query_one(Sparkline).data = []
        self.query_one("#grad-flow", Static).update("gradient flow ||∂L/∂h_t||: sampled while training")

    def add(self, steps: list) -> None:
        if not steps:
            return
        for record in steps:
            self.norms.append(record.grad_norm)
            self.clipped.append(record.clipped)
        last = steps[-1]
        share = sum(self.clipped) / len(self.clipped)
        line = Text.assemble(
            "‖g‖ ", (f"{last.grad_norm:.3g}", "bold"), " before clipping · θ ", f"{self.theta:g}",
            " · ", (f"{share:.0%}", "bold"), f" clipped (last {len(self.clipped)})")
        self.query_one("#grad-norm", Static).update(line, layout=False)  # fixed height: no reflow
        self.query_one(Sparkline).data = list(self.norms)

    def show_flow(self, norms: list[float], cell: str = "") -> None:
        """The bars of one sample; with each cell's latest ratio of this session beside it, so that
        the RNN's vanishing gradient and the LSTM's surviving one can be read side by side."""
        if not norms:
            return
        ratio = norms[0] / norms[-1] if norms[-1] > 0 else float("inf")
        if cell:
            self.reach[cell] = ratio
        by_cell = " · ".join(f"{name} {value:.2g}" for name, value in self.reach.items())
        summary = f"‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ = {ratio:.2g}" + (f"  (by cell: {by_cell})" if by_cell else "")
        label = f"{cell} ∂L/∂h_t  t=1 ".lstrip()
        text = Text.assemble(label, flow_bars(norms), f" t={len(norms)}\n", (summary, "dim"))
        self.query_one("#grad-flow", Static).update(text, layout=False)
