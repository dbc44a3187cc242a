"""The ``?`` screen: what each pane shows and the formula behind it."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# rnnplay

A recurrent neural network (chapter 8 of *Dive into Deep Learning*) learns a text while you watch,
then continues any prefix you type, one character at a time.

## Corpus
Characters, tokens and vocabulary of the text; the most frequent 1-, 2- and 3-grams.
**Zipf's law**: the frequency of the *i*-th most frequent n-gram falls like a power of its rank,
`n_i ∝ 1 / i^α`, a straight line of slope `-α` on log-log axes (α is fitted on ranks 10-1000).
**Laplace smoothing** gives every n-gram a share of probability:
`P(x | ctx) = (n(ctx, x) + α) / (n(ctx) + α·|V|)`.  The n-gram models' validation perplexities are
the baselines the RNN has to beat.  Type a built-in name (timemachine, python-docs) or a file path
in the box at the bottom and press Enter to switch corpus.

## Training
The hidden state `h_t = tanh(x_t W_xh + h_(t-1) W_hh + b_h)` carries the past; the output is
`o_t = h_t W_hq + b_q`.  **Perplexity** is `exp(-1/n Σ log P(x_t | x_(t-1), …))`: 1 is perfect,
the vocabulary size is guessing.  **Gradient clipping**: when the gradient's norm ‖g‖ exceeds θ,
g is scaled to `θ · g / ‖g‖`; the readout shows ‖g‖ before clipping and how often it bit.
**Gradient flow** bars show ‖∂L/∂h_t‖ for each time step t: short bars on the left mean the
gradient fades on its way back through time.  Sequential partitioning carries the hidden state
from one minibatch to the next; random sampling starts each from zeros.
Hyperparameters are fixed once a model exists: Reset to change them.

## Cells
Pick the cell, the number of stacked layers and the dropout in the form (`--cell`, `--layers`,
`--dropout` on the command line); σ is the sigmoid, ⊙ the elementwise product.
**RNN**: `H_t = tanh(X_t W_xh + H_(t-1) W_hh + b_h)`.  The gradient reaching H_1 is a product of
T - 1 Jacobians: it vanishes (or explodes) over long spans.
**GRU**: update gate `Z_t = σ(X_t W_xz + H_(t-1) W_hz + b_z)`, reset gate
`R_t = σ(X_t W_xr + H_(t-1) W_hr + b_r)`, candidate `H̃_t = tanh(X_t W_xh + (R_t ⊙ H_(t-1)) W_hh + b_h)`,
state `H_t = Z_t ⊙ H_(t-1) + (1 - Z_t) ⊙ H̃_t`: where Z_t ≈ 1 the state, and its gradient, pass
through unchanged.
**LSTM**: input, forget and output gates `I_t, F_t, O_t = σ(X_t W_x· + H_(t-1) W_h· + b_·)`,
candidate `C̃_t = tanh(X_t W_xc + H_(t-1) W_hc + b_c)`, memory cell `C_t = F_t ⊙ C_(t-1) + I_t ⊙ C̃_t`,
hidden state `H_t = O_t ⊙ tanh(C_t)`: the memory cell is a sum, not a squashed product, so with
F_t ≈ 1 the gradient flows back through it nearly intact.  Compare the gradient-flow bars (and
the ratios by cell under them) of an RNN and an LSTM run.
**Deep** (d2l 10.3): layer l reads layer l - 1's states instead of X_t; dropout between layers
and before the output layer acts only while training.  **Embedding** (`--embed E`, the LSTM's
default 64): X_t is the token's row of a learned V × E table `W_e`, with dropout, instead of its
one-hot vector.  **lr schedule**: cosine lowers the learning rate from lr to 0 over the run.
**Compare** overlays the validation curves of every run of this session against training seconds.

## Paths of BPTT
The loss of a sequence is the sum of its steps' losses, `L = L_1 + … + L_T`, and h_t reaches L_s
(s ≥ t) only through h_(t+1), …, h_s.  So the gradient reaching h_t is a sum of one term per later
loss, each term one path through time:
`dL/dh_t = Σ_(s ≥ t) ∂L_s/∂h_t`,  `∂L_s/∂h_t = ∂L_s/∂h_s · ∂h_s/∂h_(s-1) ⋯ ∂h_(t+1)/∂h_t`.
For T = 3 (the seed notes' example): `dL/dh_1 = ∂L_1/∂h_1 + ∂L_2/∂h_2 · ∂h_2/∂h_1 +
∂L_3/∂h_3 · ∂h_3/∂h_2 · ∂h_2/∂h_1`.
For the RNN each factor is the Jacobian `∂h_k/∂h_(k-1) = diag(1 - h_k²) W_hhᵀ`, and since
|1 - h²| ≤ 1, `‖∂L_s/∂h_t‖ ≤ ‖∂L_s/∂h_s‖ · ‖W_hh‖^(s-t)`: with the largest singular value of
W_hh below 1 the terms shrink geometrically with s - t (**vanishing gradients**: distant losses teach
h_t nothing); above it they can grow geometrically (**exploding gradients**: one long path swamps the
update, which is why clipping rescales g to `θ · g / ‖g‖`).  The gated cells add a path without a
squashing matrix: the GRU's `Z_t ⊙ H_(t-1)`, the LSTM's `F_t ⊙ C_(t-1)`.
**The grid**: row s is the loss L_s, column t the hidden state h_t (for an LSTM h, not the memory
cell c), and cell (s, t) is coloured by `C[t, s] = ‖∂L_s/∂h_t‖` on a log scale (six powers of ten
below the largest).  Each L_s is backpropagated on its own through the current weights, on row n of
the corpus (tokens nT … nT + T - 1, from a zero state).  Beside the grid: the share of column t's
path norms `Σ_s C[t, s]` that each loss gives (the vectors add up to dL/dh_t; their norms add up to
at least ‖dL/dh_t‖).
**Truncation**: truncated BPTT with k steps (d2l 8.7) drops the paths with s - t > k: each backward
is at most k steps long, cheaper and steadier (no long product to explode), but the model can no
longer learn from a loss more than k steps after its input.  The strip under the grid shows, per t,
the dropped share of `Σ_s C[t, s]`; the average is over the t that have a path longer than k.
Keys: arrows move the cursor (PgUp/PgDn 10 losses, Home/End), `[` `]` the previous or next corpus
row, `l` the next layer, `-` `+` the truncation k, `r` recompute.  While training runs the grid
follows the weights every few seconds.

## Minibatches
The text is cut into minibatches of B rows of T tokens; Y is X shifted by one: each position
predicts the next token.  Each epoch both iterators start at a random offset k in [0, T), so that
the cuts differ from epoch to epoch.  **Random sampling** shuffles the subsequences that start at
k, k + T, k + 2T, …: the rows of consecutive minibatches are unrelated, so each minibatch starts
from a zero hidden state.  **Sequential partitioning** splits the text after k into B long rows and
takes the next T columns of each: row i of minibatch j + 1 continues row i of minibatch j, so the
hidden state at the end of one minibatch is the right start for the next and is carried over,
detached (the gradient stops at the cut).  B, T and the iterator left blank are the run's; New draw
shows another draw (draw 0 is what the run trains on first).

## Generate
Type a prefix and press Enter: the model reads it, then writes one token at a time from the
*current* weights, also while training runs.  Greedy picks the likeliest token; sampled draws
from `softmax(o / temperature)`, limited to the top-k likeliest when top-k is set.
Esc stops; a new prompt replaces the old; Up/Down recall earlier prompts.
**Beam search** (mode beam, width W up to 32) looks for a likely *whole* continuation: it keeps the
W continuations with the highest `log p(x_1..x_n | prefix) = Σ_t log p(x_t | prefix, x_1..x_(t-1))`,
extends each by every token, and keeps the W best again (this one always keeps the greedy
continuation among them, so it never ends below greedy).  Every output shows its total
log-probability: beam text scores higher than sampled text, and reads duller.

## Inspect
Type or paste a text (Enter), or give a span of the corpus as START:LEN (Enter); the current
weights read it, and while training runs they read it again every 2 seconds.
**Next token** (teacher forcing): the model reads the true text; after token t its output
`softmax(O_t)` is its guess for token t+1.  Each token is coloured by the probability the model
gave it (red: a surprise, green: expected); under it, the model's likeliest next token; the Next
tab lists the top 5 at the cursor.  The text's loss is `-1/(T-1) Σ_t log p(x_(t+1) | x_0..x_t)`
nats per token and its perplexity `exp(loss)`.
**Units**: colour the text by one unit of one quantity: `l1.h` (every cell), the LSTM's gates
`l1.i`, `l1.f`, `l1.o`, candidate `l1.c_tilde` and memory `l1.c`, the GRU's `l1.z`, `l1.r`,
`l1.h_tilde` (`l2.` for the second layer).  Blue −1 … white 0 … red +1 for h, the candidates and
tanh(c); blue 0 … red 1 for the gates.  The Units tab ranks the quantity's units by the **Pearson
correlation** of their activation a_t with a feature f_t of the text,
`r = Σ(a_t − ā)(f_t − f̄) / sqrt(Σ(a_t − ā)² · Σ(f_t − f̄)²)`: inside double quotes, inside
parentheses, position in the line (texts with newlines), position in the word, space, vowel, word
start, sentence end.  |r| near 1: the unit tracks the feature.  Enter on a row colours the text by it.
**Gates**: a gate is left-saturated at a step when its value is below 0.1 (closed) and
right-saturated above 0.9 (open); the scatter puts every unit of the layer at (fraction of steps
closed, fraction open).  Forget gates open most of the time carry the memory across long spans.
**Saliency** at the cursor position t: `‖∂ log p(x_(t+1)) / ∂e_s‖` for every earlier input s, e_s
the one-hot vector (or embedding row) of token s: how much a nudge to input s would move the
probability of the true next token.  Orange: the prediction leans on it.
Keys, with the text focused: ←/→ Home/End PgUp/PgDn move the cursor · ↑/↓ next/previous unit ·
a number then Enter: that unit · [ and ] previous/next quantity and layer · n, u, s colour by next
token, unit or saliency · r read again now.

## Keys
F5 train / resume · F6 pause / resume · F7 stop · Ctrl+R reset · Ctrl+S save · Ctrl+O load ·
Ctrl+G write (cursor to the prompt) · Esc stop writing · F2 next tab · Ctrl+P command palette ·
F1 or ? this help · Ctrl+Q quit (offers to save unsaved training).
Below 120x36 the panes become tabs: F2 or a click switches them.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="help-close")]
    AUTO_FOCUS = "#help-box"  # arrows and PgUp/PgDn scroll at once

    def __init__(self, section: str | None = None):
        """``section``: the heading to open at (its slug, e.g. ``"inspect"``), None for the top."""
        super().__init__()
        self.section = section

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)

    @on(Markdown.TableOfContentsUpdated)
    def _open_at_section(self) -> None:
        if self.section:
            self.call_after_refresh(self.query_one(Markdown).goto_anchor, self.section)
