"""The three cells unrolled step by step in plain autograd, every per-step quantity kept.

The models train through fused recurrences with hand-derived backward passes (engine/bptt.py,
engine/gated_bptt.py), which keep only what their backward needs.  The views that look inside a
model (the next-token strip, unit activations, saliency, the paths of BPTT) need the rest: every
layer's h_t, every gate, the input vectors as tensors to differentiate by.  This module computes
the same function as the models' ``forward`` (tests hold it to 1e-5), one step at a time, from the
models' own parameters by their book names, and keeps everything:

    RNN:   H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)
    GRU:   Z_t = σ(X_t W_xz + H_{t-1} W_hz + b_z)      R_t = σ(X_t W_xr + H_{t-1} W_hr + b_r)
           H̃_t = tanh(X_t W_xh + (R_t ⊙ H_{t-1}) W_hh + b_h)      H_t = Z_t ⊙ H_{t-1} + (1 - Z_t) ⊙ H̃_t
    LSTM:  I_t, F_t, O_t = σ(X_t W_x· + H_{t-1} W_h· + b_·)         C̃_t = tanh(X_t W_xc + H_{t-1} W_hc + b_c)
           C_t = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t                         H_t = O_t ⊙ tanh(C_t)
    output: O_t = H_t W_hq + b_q (the top layer's H_t)

X_t of the first layer is the one-hot vector of token t (or, with an embedding, its row of W_e);
of layer l >= 2, the H_t of the layer below.  Inspection runs as evaluation does: no dropout.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .layers import join_layers, layer_suffix, split_layers

# per-step quantities of each cell, in the book's names (the key of layer l is f"l{l}.{name}")
QUANTITIES = {
    "rnn": ("h",),
    "gru": ("z", "r", "h_tilde", "h"),
    "lstm": ("i", "f", "o", "c_tilde", "c", "h"),
}


def cell_of(model) -> str:
    """``"rnn"``, ``"gru"`` or ``"lstm"``: which book cell a scratch model is, by its parameters."""
    names = {name for name, _ in model.named_parameters()}
    for cell, first in (("gru", "W_xz"), ("lstm", "W_xi"), ("rnn", "W_xh")):
        if first in names:
            return cell
    raise TypeError(f"{type(model).__name__} is not one of the scratch models (rnn, gru, lstm)")


@dataclass
class Unrolled:
    """What :func:`unroll` computed; every tensor is part of the autograd graph when grad is on.

    ``logits`` (batch, steps, V) are the model's outputs; ``inputs`` (batch, steps, D) the first
    layer's input vectors X_t (one-hot, D = V, or embedding rows, D = E); ``acts`` maps
    ``"l<layer>.<quantity>"`` (layers from 1, QUANTITIES' names) to one (batch, H) tensor per
    step; ``state`` is the final state in the model's own layout (``begin_state``'s)."""

    cell: str
    logits: torch.Tensor
    inputs: torch.Tensor
    acts: dict[str, list[torch.Tensor]]
    state: object

    def stacked(self, key: str) -> torch.Tensor:
        """``acts[key]`` as one (batch, steps, H) tensor."""
        return torch.stack(self.acts[key], 1)


def input_vectors(model, X: torch.Tensor) -> torch.Tensor:
    """The first layer's input vectors for tokens ``X`` (batch, steps): one-hot rows of the
    vocabulary (the book's), or with an embedding the rows of W_e."""
    if getattr(model, "embed_size", 0):
        return F.embedding(X, model.W_e)
    return F.one_hot(X, model.vocab_size).to(model.W_hq.dtype)


def _step(cell: str, p: dict, x: torch.Tensor, state) -> dict[str, torch.Tensor]:
    """One time step of one layer: every quantity of ``cell`` at this step, from input ``x`` and
    the previous state (h, or the LSTM's (h, c)); ``p`` maps the book's names to the layer's
    parameters without their layer suffix."""
    def pre(g, h):  # X_t W_xg + H_{t-1} W_hg + b_g
        return x @ p[f"W_x{g}"] + h @ p[f"W_h{g}"] + p[f"b_{g}"]

    if cell == "rnn":
        return {"h": torch.tanh(pre("h", state))}
    if cell == "gru":
        h = state
        z, r = torch.sigmoid(pre("z", h)), torch.sigmoid(pre("r", h))
        h_tilde = torch.tanh(x @ p["W_xh"] + (r * h) @ p["W_hh"] + p["b_h"])
        return {"z": z, "r": r, "h_tilde": h_tilde, "h": z * h + (1 - z) * h_tilde}
    h, c = state
    i, f, o = (torch.sigmoid(pre(g, h)) for g in "ifo")
    c_tilde = torch.tanh(pre("c", h))
    c = f * c + i * c_tilde
    return {"i": i, "f": f, "o": o, "c_tilde": c_tilde, "c": c, "h": o * torch.tanh(c)}


def _layer_params(model, cell: str, layer: int) -> dict[str, torch.Tensor]:
    suffix = layer_suffix(layer)
    gates = {"rnn": "h", "gru": "zrh", "lstm": "ifoc"}[cell]
    return {f"{kind}{g}": getattr(model, f"{kind}{g}{suffix}") for g in gates for kind in ("W_x", "W_h", "b_")}


def _split(cell: str, model, state):
    if cell == "lstm":
        return list(zip(split_layers(state[0], model.num_layers), split_layers(state[1], model.num_layers)))
    return list(split_layers(state, model.num_layers))


def unroll(model, X: torch.Tensor, state=None, *, inputs: torch.Tensor | None = None) -> Unrolled:
    """Run ``model`` on tokens ``X`` (batch, steps) from ``state`` (None: ``begin_state``) one step
    at a time, keeping every per-step quantity of every layer.

    ``inputs`` (batch, steps, D), when given, replaces the first layer's input vectors
    (:func:`input_vectors` of X): pass a tensor that requires grad to differentiate by X_t
    (saliency).  Gradients flow as far as the caller's grad mode allows."""
    cell = cell_of(model)
    if X.dim() != 2:
        raise ValueError(f"X must be (batch, steps) token indices, not shape {tuple(X.shape)}")
    batch, steps = X.shape
    if state is None:
        state = model.begin_state(batch)
    if inputs is None:
        inputs = input_vectors(model, X)
    acts: dict[str, list[torch.Tensor]] = {}
    below = list(inputs.unbind(1))  # the current layer's inputs, one (batch, D) tensor per step
    finals = []
    for layer, layer_state in enumerate(_split(cell, model, state)):
        p = _layer_params(model, cell, layer)
        names = QUANTITIES[cell]
        keep = {name: acts.setdefault(f"l{layer + 1}.{name}", []) for name in names}
        for x in below:
            values = _step(cell, p, x, layer_state)
            for name in names:
                keep[name].append(values[name])
            layer_state = (values["h"], values["c"]) if cell == "lstm" else values["h"]
        finals.append(layer_state)
        below = keep["h"]
    top = torch.stack(below, 1) if below else inputs.new_zeros(batch, 0, model.num_hiddens)
    logits = top @ model.W_hq + model.b_q
    if cell == "lstm":
        final = join_layers([h for h, _ in finals]), join_layers([c for _, c in finals])
    else:
        final = join_layers(finals)
    return Unrolled(cell, logits, inputs, acts, final)
